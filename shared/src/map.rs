//! The map format and tile queries.
//!
//! A map is a grid of square tiles, each [`TILE_SIZE`] coords (32 world units) wide. Maps are plain text
//! files in `assets/maps/`:
//!
//! ```text
//! ; lines starting with ';' are comments
//! name: arena
//! ##########
//! #S......S#
//! #...##...#
//! #S......S#
//! ##########
//! ```
//!
//! `#` is a wall, `.` floor and `S` floor with a spawn point at the tile's centre. Header lines
//! (`key: value`) come before the grid; all grid rows have the same width. Everything outside the grid is
//! solid, so nothing leaves the map even where its border has gaps.

use crate::fixed::{Coord, Pos, SUBUNITS};
use serde::{Deserialize, Serialize};

/// Width of one tile in coords.
pub const TILE_SIZE: Coord = 32 * SUBUNITS;

/// Largest map side in tiles (bounds the memory a decoded map can claim).
pub const MAX_MAP_SIDE: u16 = 512;

/// Most spawn points a map may have.
pub const MAX_SPAWNS: usize = 1024;

/// Longest map name in bytes.
pub const MAX_MAP_NAME: usize = 64;

/// What occupies one tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tile {
    /// Open floor.
    Floor,
    /// A wall that blocks players and stops projectiles.
    Wall,
}

/// A spawn point: the centre of its tile, in coords.
pub type SpawnPoint = Pos;

/// Why a map could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// The grid has no rows, or a row is empty.
    #[error("the map has no tiles")]
    Empty,
    /// A grid row has a different width from the first.
    #[error("row {row} is {found} tiles wide, expected {expected}")]
    RaggedRow {
        /// 1-based row in the grid.
        row: usize,
        /// Its width.
        found: usize,
        /// The first row's width.
        expected: usize,
    },
    /// A side exceeds [`MAX_MAP_SIDE`].
    #[error("the map is {width}x{height} tiles, the most is {MAX_MAP_SIDE} a side")]
    TooLarge {
        /// Width in tiles.
        width: usize,
        /// Height in tiles.
        height: usize,
    },
    /// A grid character that is not `#`, `.` or `S`.
    #[error("unknown tile {ch:?} at row {row}, column {column}")]
    UnknownTile {
        /// The character.
        ch: char,
        /// 1-based row.
        row: usize,
        /// 1-based column.
        column: usize,
    },
    /// A header line that is not `key: value` with a known key.
    #[error("bad header line {0:?}")]
    BadHeader(String),
    /// No spawn point, or more than [`MAX_SPAWNS`], or one that is not on floor.
    #[error("the map needs between 1 and {MAX_SPAWNS} spawn points on floor tiles")]
    Spawns,
    /// The tile count does not match the dimensions (a corrupt wire map).
    #[error("the map claims {width}x{height} tiles but holds {tiles}")]
    TileCount {
        /// Width in tiles.
        width: u16,
        /// Height in tiles.
        height: u16,
        /// Tiles present.
        tiles: usize,
    },
    /// The name is longer than [`MAX_MAP_NAME`].
    #[error("the map name is longer than {MAX_MAP_NAME} bytes")]
    NameTooLong,
}

/// A validated map: dimensions match the tiles, every spawn point is on floor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MapWire", into = "MapWire")]
pub struct Map {
    name: String,
    width: u16,
    height: u16,
    tiles: Vec<Tile>,
    spawns: Vec<SpawnPoint>,
}

/// The map as sent in [`crate::protocol::Welcome`]; validated into a [`Map`] on decode.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MapWire {
    /// Map name.
    name: String,
    /// Width in tiles.
    width: u16,
    /// Height in tiles.
    height: u16,
    /// Row-major tiles, `width * height` of them.
    tiles: Vec<Tile>,
    /// Spawn points.
    spawns: Vec<SpawnPoint>,
}

impl TryFrom<MapWire> for Map {
    type Error = MapError;

    fn try_from(wire: MapWire) -> Result<Map, MapError> {
        Map::new(wire.name, wire.width, wire.height, wire.tiles, wire.spawns)
    }
}

impl From<Map> for MapWire {
    fn from(map: Map) -> MapWire {
        MapWire {
            name: map.name,
            width: map.width,
            height: map.height,
            tiles: map.tiles,
            spawns: map.spawns,
        }
    }
}

impl Map {
    /// A map from its parts, checking every invariant.
    pub fn new(
        name: String,
        width: u16,
        height: u16,
        tiles: Vec<Tile>,
        spawns: Vec<SpawnPoint>,
    ) -> Result<Map, MapError> {
        if name.len() > MAX_MAP_NAME {
            return Err(MapError::NameTooLong);
        }
        if width == 0 || height == 0 {
            return Err(MapError::Empty);
        }
        if width > MAX_MAP_SIDE || height > MAX_MAP_SIDE {
            return Err(MapError::TooLarge {
                width: width.into(),
                height: height.into(),
            });
        }
        if tiles.len() != usize::from(width) * usize::from(height) {
            return Err(MapError::TileCount {
                width,
                height,
                tiles: tiles.len(),
            });
        }
        let map = Map {
            name,
            width,
            height,
            tiles,
            spawns,
        };
        let spawns_ok = !map.spawns.is_empty()
            && map.spawns.len() <= MAX_SPAWNS
            && map.spawns.iter().all(|s| !map.is_solid_at(s.x, s.y));
        if !spawns_ok {
            return Err(MapError::Spawns);
        }
        Ok(map)
    }

    /// Parses the text format described in the module docs.
    pub fn parse(text: &str) -> Result<Map, MapError> {
        let mut name = String::from("unnamed");
        let mut rows: Vec<&str> = Vec::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim_start().starts_with(';') || (rows.is_empty() && line.trim().is_empty()) {
                continue;
            }
            if rows.is_empty() && !line.starts_with(['#', '.', 'S']) {
                let (key, value) = line
                    .split_once(':')
                    .ok_or_else(|| MapError::BadHeader(line.to_string()))?;
                match key.trim() {
                    "name" => name = value.trim().to_string(),
                    _ => return Err(MapError::BadHeader(line.to_string())),
                }
                continue;
            }
            rows.push(line);
        }
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        let width = rows.first().map_or(0, |r| r.chars().count());
        if width == 0 {
            return Err(MapError::Empty);
        }
        if width > usize::from(MAX_MAP_SIDE) || rows.len() > usize::from(MAX_MAP_SIDE) {
            return Err(MapError::TooLarge {
                width,
                height: rows.len(),
            });
        }
        let mut tiles = Vec::with_capacity(width * rows.len());
        let mut spawns = Vec::new();
        for (row_index, row) in rows.iter().enumerate() {
            let found = row.chars().count();
            if found != width {
                return Err(MapError::RaggedRow {
                    row: row_index + 1,
                    found,
                    expected: width,
                });
            }
            for (column, ch) in row.chars().enumerate() {
                tiles.push(match ch {
                    '#' => Tile::Wall,
                    '.' => Tile::Floor,
                    'S' => {
                        spawns.push(tile_centre(column as i32, row_index as i32));
                        Tile::Floor
                    }
                    _ => {
                        return Err(MapError::UnknownTile {
                            ch,
                            row: row_index + 1,
                            column: column + 1,
                        })
                    }
                });
            }
        }
        // Both fit in u16: checked against MAX_MAP_SIDE above.
        Map::new(name, width as u16, rows.len() as u16, tiles, spawns)
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Width in tiles.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Height in tiles.
    pub fn height(&self) -> u16 {
        self.height
    }

    /// Width in coords.
    pub fn width_coords(&self) -> Coord {
        Coord::from(self.width) * TILE_SIZE
    }

    /// Height in coords.
    pub fn height_coords(&self) -> Coord {
        Coord::from(self.height) * TILE_SIZE
    }

    /// Spawn points, in map order.
    pub fn spawns(&self) -> &[SpawnPoint] {
        &self.spawns
    }

    /// The tile at a tile column and row; everything outside the map is a wall.
    pub fn tile(&self, column: i32, row: i32) -> Tile {
        if column < 0 || row < 0 || column >= i32::from(self.width) || row >= i32::from(self.height)
        {
            return Tile::Wall;
        }
        self.tiles[row as usize * usize::from(self.width) + column as usize]
    }

    /// Whether the tile at a column and row blocks movement.
    pub fn is_solid(&self, column: i32, row: i32) -> bool {
        self.tile(column, row) == Tile::Wall
    }

    /// Whether the point (in coords) lies in a solid tile or outside the map.
    pub fn is_solid_at(&self, x: Coord, y: Coord) -> bool {
        self.is_solid(x.div_euclid(TILE_SIZE), y.div_euclid(TILE_SIZE))
    }
}

/// The centre of a tile, in coords.
pub fn tile_centre(column: i32, row: i32) -> Pos {
    Pos::new(
        column * TILE_SIZE + TILE_SIZE / 2,
        row * TILE_SIZE + TILE_SIZE / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "; test map\nname: small\n#####\n#S..#\n#.#.#\n#..S#\n#####\n";

    #[test]
    fn parses_the_text_format() {
        let map = Map::parse(SMALL).expect("valid map");
        assert_eq!(map.name(), "small");
        assert_eq!((map.width(), map.height()), (5, 5));
        assert_eq!(map.spawns().len(), 2);
        assert_eq!(map.spawns()[0], tile_centre(1, 1));
        assert!(map.is_solid(2, 2));
        assert!(!map.is_solid(1, 2));
        assert!(map.is_solid(-1, 0), "outside is solid");
        assert!(map.is_solid(5, 1), "outside is solid");
        assert!(map.is_solid_at(-1, TILE_SIZE + 1));
    }

    #[test]
    fn rejects_bad_maps() {
        assert_eq!(Map::parse(""), Err(MapError::Empty));
        assert!(matches!(
            Map::parse("###\n#S\n###"),
            Err(MapError::RaggedRow { row: 2, .. })
        ));
        assert!(matches!(
            Map::parse("###\n#x#\n###"),
            Err(MapError::UnknownTile { ch: 'x', .. })
        ));
        assert_eq!(Map::parse("###\n#.#\n###"), Err(MapError::Spawns));
        assert!(matches!(
            Map::parse("size: 3\n#S#"),
            Err(MapError::BadHeader(_))
        ));
        let wide = "S".repeat(513);
        assert!(matches!(Map::parse(&wide), Err(MapError::TooLarge { .. })));
    }

    #[test]
    fn wire_maps_are_validated() {
        let bad = Map::new(
            "x".into(),
            2,
            2,
            vec![Tile::Floor; 3],
            vec![tile_centre(0, 0)],
        );
        assert!(matches!(bad, Err(MapError::TileCount { .. })));
        let in_wall = Map::new("x".into(), 1, 1, vec![Tile::Wall], vec![tile_centre(0, 0)]);
        assert_eq!(in_wall, Err(MapError::Spawns));
    }

    #[test]
    fn the_default_arena_loads() {
        let text = include_str!("../../assets/maps/arena.map");
        let map = Map::parse(text).expect("the shipped arena is valid");
        assert!(map.spawns().len() >= 8);
    }
}
