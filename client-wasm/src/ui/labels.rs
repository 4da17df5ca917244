//! Name labels laid out so they do not overlap: players standing on top of each other would
//! otherwise print their names over one another. Only the labels move; the players stay put.

/// A label to place: its centre's x and its baseline's y, in screen pixels, and its width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Label {
    /// Horizontal centre.
    pub x: f64,
    /// Baseline where the label would sit alone.
    pub y: f64,
    /// Width of the text.
    pub width: f64,
}

/// Most labels moved: beyond this many (a crowd far larger than a screen holds) the rest keep
/// their places, so the layout stays cheap.
const MAX_LAID_OUT: usize = 64;

/// How far up (pixels, 0 or more) each label must be lifted so no two overlap, given each label's
/// line height. Labels are placed lowest first; a label that overlaps one already placed is lifted
/// just above it, and checked again against the others.
pub fn lifts(labels: &[Label], line_height: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    // Lowest on screen first (the largest y); ties by x, so the order does not flicker.
    order.sort_by(|&a, &b| {
        labels[b]
            .y
            .total_cmp(&labels[a].y)
            .then(labels[a].x.total_cmp(&labels[b].x))
    });
    let mut lift = vec![0.0; labels.len()];
    // Placed labels: index and baseline after lifting.
    let mut placed: Vec<(usize, f64)> = Vec::new();
    for &i in order.iter().take(MAX_LAID_OUT) {
        let label = labels[i];
        let mut baseline = label.y;
        // Each pass lifts above one placed label; at most one pass per placed label.
        for _ in 0..=placed.len() {
            let blocker = placed.iter().find(|&&(j, other)| {
                let other_label = labels[j];
                let apart = (label.width + other_label.width) / 2.0;
                (label.x - other_label.x).abs() < apart && (baseline - other).abs() < line_height
            });
            match blocker {
                Some(&(_, other)) => baseline = other - line_height,
                None => break,
            }
        }
        lift[i] = label.y - baseline;
        placed.push((i, baseline));
    }
    lift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: Label, ay: f64, b: Label, by: f64, h: f64) -> bool {
        (a.x - b.x).abs() < (a.width + b.width) / 2.0 && (ay - by).abs() < h
    }

    #[test]
    fn apart_labels_stay_put() {
        let labels = [
            Label {
                x: 0.0,
                y: 100.0,
                width: 40.0,
            },
            Label {
                x: 200.0,
                y: 100.0,
                width: 40.0,
            },
        ];
        assert_eq!(lifts(&labels, 14.0), vec![0.0, 0.0]);
    }

    #[test]
    fn stacked_players_get_stacked_labels() {
        let labels = [Label {
            x: 50.0,
            y: 100.0,
            width: 60.0,
        }; 4];
        let lift = lifts(&labels, 14.0);
        let mut sorted = lift.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, vec![0.0, 14.0, 28.0, 42.0]);
        for i in 0..labels.len() {
            for j in 0..i {
                assert!(!overlap(
                    labels[i],
                    labels[i].y - lift[i],
                    labels[j],
                    labels[j].y - lift[j],
                    14.0
                ));
            }
        }
    }

    #[test]
    fn no_overlap_in_a_crowd() {
        // A crowd of near neighbours, some of them on one spot.
        let labels: Vec<Label> = (0..30)
            .map(|i| Label {
                x: f64::from(i % 5) * 17.0,
                y: 300.0 + f64::from(i % 3) * 5.0,
                width: 30.0 + f64::from(i % 4) * 10.0,
            })
            .collect();
        let lift = lifts(&labels, 14.0);
        for i in 0..labels.len() {
            assert!(lift[i] >= 0.0);
            for j in 0..i {
                assert!(
                    !overlap(
                        labels[i],
                        labels[i].y - lift[i],
                        labels[j],
                        labels[j].y - lift[j],
                        14.0
                    ),
                    "labels {i} and {j} overlap"
                );
            }
        }
    }
}
