//! A uniform spatial grid for "what is near this point" queries (interest management and hit tests).
//!
//! The grid is rebuilt from scratch when positions change, by a counting sort into cells: O(n), no
//! allocation once warm. Items are indices into the caller's own table.

use skirmish_shared::fixed::{Coord, Pos};

/// How a cell lies against two circles around a point ([`Grid::query_reach`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellReach {
    /// Wholly within the inner circle.
    Inner,
    /// Wholly within the outer circle, not the inner.
    Outer,
    /// Across the outer circle (or on the grid's edge): test each item.
    Partly,
}

/// Items bucketed by cell, in compressed rows: the items of cell `c` are
/// `items[starts[c]..starts[c + 1]]`, in the order they were given, and their positions are
/// `positions[starts[c]..starts[c + 1]]` (so a query that tests distances reads them in a row).
#[derive(Debug, Clone)]
pub struct Grid {
    cell_size: Coord,
    columns: i32,
    rows: i32,
    starts: Vec<u32>,
    items: Vec<u32>,
    positions: Vec<Pos>,
    cell_of_item: Vec<u32>,
    /// Positions as given, by item (scratch for `rebuild`).
    given: Vec<Pos>,
}

impl Grid {
    /// A grid covering `width` x `height` coords in square cells of `cell_size` coords.
    pub fn new(width: Coord, height: Coord, cell_size: Coord) -> Grid {
        let cell_size = cell_size.max(1);
        let columns = (width.max(1) + cell_size - 1) / cell_size;
        let rows = (height.max(1) + cell_size - 1) / cell_size;
        Grid {
            cell_size,
            columns,
            rows,
            starts: vec![0; (columns * rows + 1) as usize],
            items: Vec::new(),
            positions: Vec::new(),
            cell_of_item: Vec::new(),
            given: Vec::new(),
        }
    }

    fn cell_coords(&self, pos: Pos) -> (i32, i32) {
        (
            (pos.x / self.cell_size).clamp(0, self.columns - 1),
            (pos.y / self.cell_size).clamp(0, self.rows - 1),
        )
    }

    /// Replaces the contents: item `i` is at `positions[i]`. Positions off the grid go to the edge cell.
    pub fn rebuild(&mut self, positions: impl Iterator<Item = Pos>) {
        self.cell_of_item.clear();
        self.given.clear();
        self.starts.fill(0);
        for pos in positions {
            let (cx, cy) = self.cell_coords(pos);
            let cell = (cy * self.columns + cx) as u32;
            self.cell_of_item.push(cell);
            self.given.push(pos);
            self.starts[cell as usize + 1] += 1;
        }
        for i in 1..self.starts.len() {
            self.starts[i] += self.starts[i - 1];
        }
        let len = self.cell_of_item.len();
        self.items.clear();
        self.items.resize(len, 0);
        self.positions.clear();
        self.positions.resize(len, Pos::default());
        // `starts[c]` doubles as the write cursor of cell c; restored afterwards by shifting.
        for (item, &cell) in self.cell_of_item.iter().enumerate() {
            let slot = &mut self.starts[cell as usize];
            self.items[*slot as usize] = item as u32;
            self.positions[*slot as usize] = self.given[item];
            *slot += 1;
        }
        for i in (1..self.starts.len()).rev() {
            self.starts[i] = self.starts[i - 1];
        }
        self.starts[0] = 0;
    }

    /// Calls `f` with every item whose cell overlaps the square of half-side `radius` around `centre`.
    /// The caller filters by exact distance.
    pub fn query(&self, centre: Pos, radius: Coord, mut f: impl FnMut(u32)) {
        let (x0, y0) = self.cell_coords(Pos::new(centre.x - radius, centre.y - radius));
        let (x1, y1) = self.cell_coords(Pos::new(centre.x + radius, centre.y + radius));
        for cy in y0..=y1 {
            let row = cy * self.columns;
            let from = self.starts[(row + x0) as usize] as usize;
            let to = self.starts[(row + x1 + 1) as usize] as usize;
            for &item in &self.items[from..to] {
                f(item);
            }
        }
    }

    /// Calls `f` with the items of every cell that may hold a point within `outer` of `centre`,
    /// and their positions, a cell at a time, with how the cell lies against the circles of
    /// radius `inner` and `outer` around `centre`: the caller tests distances only where a cell
    /// straddles a circle. Cells on the grid's edge (which also hold positions beyond it) are
    /// always [`CellReach::Partly`].
    pub fn query_reach(
        &self,
        centre: Pos,
        inner: Coord,
        outer: Coord,
        mut f: impl FnMut(&[u32], &[Pos], CellReach),
    ) {
        let (x0, y0) = self.cell_coords(Pos::new(centre.x - outer, centre.y - outer));
        let (x1, y1) = self.cell_coords(Pos::new(centre.x + outer, centre.y + outer));
        let inner_sq = i64::from(inner) * i64::from(inner);
        let outer_sq = i64::from(outer) * i64::from(outer);
        let size = i64::from(self.cell_size);
        let (px, py) = (i64::from(centre.x), i64::from(centre.y));
        for cy in y0..=y1 {
            let row = cy * self.columns;
            for cx in x0..=x1 {
                let cell = (row + cx) as usize;
                let range = self.starts[cell] as usize..self.starts[cell + 1] as usize;
                if range.is_empty() {
                    continue;
                }
                let (items, positions) = (&self.items[range.clone()], &self.positions[range]);
                let edge = cx == 0 || cy == 0 || cx == self.columns - 1 || cy == self.rows - 1;
                if edge {
                    f(items, positions, CellReach::Partly);
                    continue;
                }
                // The cell holds positions in [low, low + size - 1] on each axis.
                let (lx, ly) = (i64::from(cx) * size, i64::from(cy) * size);
                let (hx, hy) = (lx + size - 1, ly + size - 1);
                let near = |p: i64, lo: i64, hi: i64| (lo - p).max(p - hi).max(0);
                let far = |p: i64, lo: i64, hi: i64| (p - lo).max(hi - p);
                let (nx, ny) = (near(px, lx, hx), near(py, ly, hy));
                if nx * nx + ny * ny > outer_sq {
                    continue;
                }
                let (fx, fy) = (far(px, lx, hx), far(py, ly, hy));
                let far_sq = fx * fx + fy * fy;
                let reach = if far_sq <= inner_sq {
                    CellReach::Inner
                } else if far_sq <= outer_sq {
                    CellReach::Outer
                } else {
                    CellReach::Partly
                };
                f(items, positions, reach);
            }
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the grid holds no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_queries_classify_cells_truly() {
        let mut grid = Grid::new(2_000, 1_500, 64);
        let positions: Vec<Pos> = (0..3_000)
            .map(|i| Pos::new((i * 37) % 2_000, (i * 91) % 1_500))
            .collect();
        grid.rebuild(positions.iter().copied());
        for centre in [
            Pos::new(1_000, 700),
            Pos::new(10, 10),
            Pos::new(1_999, 1_499),
            Pos::new(333, 1_200),
        ] {
            let (inner, outer) = (300, 340);
            let mut seen = vec![false; positions.len()];
            grid.query_reach(centre, inner, outer, |items, cell_positions, reach| {
                for (&i, &at) in items.iter().zip(cell_positions) {
                    assert_eq!(at, positions[i as usize], "each item's position beside it");
                    seen[i as usize] = true;
                    let d = positions[i as usize].distance_squared(centre);
                    match reach {
                        CellReach::Inner => assert!(d <= i64::from(inner * inner)),
                        CellReach::Outer => assert!(d <= i64::from(outer * outer)),
                        CellReach::Partly => {}
                    }
                }
            });
            for (i, pos) in positions.iter().enumerate() {
                if pos.distance_squared(centre) <= i64::from(outer * outer) {
                    assert!(seen[i], "missed {pos:?} around {centre:?}");
                }
            }
        }
    }

    #[test]
    fn queries_find_exactly_the_items_in_overlapping_cells() {
        let mut grid = Grid::new(1000, 1000, 100);
        let positions: Vec<Pos> = (0..400)
            .map(|i| Pos::new((i * 37) % 1000, (i * 91) % 1000))
            .collect();
        grid.rebuild(positions.iter().copied());
        assert_eq!(grid.len(), 400);
        let centre = Pos::new(420, 610);
        let radius = 150;
        let mut found = Vec::new();
        grid.query(centre, radius, |i| found.push(i));
        found.sort_unstable();
        // Every item within the radius must be found; nothing outside the covered cells may be.
        for (i, pos) in positions.iter().enumerate() {
            let within = pos.distance_squared(centre) <= i64::from(radius) * i64::from(radius);
            let covered = (200..600).contains(&pos.x) && (400..800).contains(&pos.y);
            if within {
                assert!(found.binary_search(&(i as u32)).is_ok(), "missed {pos:?}");
            }
            assert_eq!(found.binary_search(&(i as u32)).is_ok(), covered, "{pos:?}");
        }
    }

    #[test]
    fn off_grid_positions_land_on_the_edge() {
        let mut grid = Grid::new(100, 100, 10);
        grid.rebuild([Pos::new(-50, 500)].into_iter());
        let mut found = Vec::new();
        grid.query(Pos::new(0, 99), 1, |i| found.push(i));
        assert_eq!(found, vec![0]);
        grid.rebuild(std::iter::empty());
        assert!(grid.is_empty());
    }
}
