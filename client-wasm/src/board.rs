//! The leaderboard as shown: the server's top rows with kills, deaths and a bot mark, and the own
//! row below them when the own player is not among them; for a page that watches, the top rows
//! alone, the player followed marked. Pure, tested natively.

use skirmish_shared::protocol::{EntityId, RosterEntry, ScoreEntry};
use std::collections::{HashMap, HashSet};

/// The names a page knows, and which of them are bots, from the roster events it has read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    names: HashMap<EntityId, String>,
    bots: HashSet<EntityId>,
}

impl Names {
    /// Adds (or renames) a player; `true` if it was not known.
    pub fn add(&mut self, entry: &RosterEntry) -> bool {
        if entry.bot {
            self.bots.insert(entry.id);
        }
        self.names.insert(entry.id, entry.name.clone()).is_none()
    }

    /// Everyone in a roster replaces what was known (a watching page's keyframes repeat it).
    pub fn replace(&mut self, entries: &[RosterEntry]) {
        self.names.clear();
        self.bots.clear();
        entries.iter().for_each(|e| {
            self.add(e);
        });
    }

    /// Forgets a player that left.
    pub fn remove(&mut self, id: EntityId) {
        self.names.remove(&id);
        self.bots.remove(&id);
    }

    /// A player's name, or `#id` for one never named.
    pub fn name_of(&self, id: EntityId) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{}", id.0))
    }

    /// Whether a player is a server-side bot.
    pub fn is_bot(&self, id: EntityId) -> bool {
        self.bots.contains(&id)
    }

    /// Players known.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no player is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Rows of the server's leaderboard shown (it sends its top ten).
pub const BOARD_TOP: usize = 10;

/// One leaderboard row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRow {
    /// The player's id (a watching page follows the player whose row is clicked).
    pub id: EntityId,
    /// 1-based place, `None` for the own row shown below the top rows.
    pub rank: Option<usize>,
    /// Display name.
    pub name: String,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
    /// A server-side bot.
    pub bot: bool,
    /// The own player (on a watching page: the player followed).
    pub own: bool,
}

/// The rows for the server's leaderboard `top` (best first) and the own score `mine`; `name_of`
/// and `is_bot` look players up in the roster.
pub fn board_rows(
    top: &[ScoreEntry],
    mine: &ScoreEntry,
    name_of: impl Fn(EntityId) -> String,
    is_bot: impl Fn(EntityId) -> bool,
) -> Vec<BoardRow> {
    let row = |rank: Option<usize>, e: &ScoreEntry| BoardRow {
        id: e.id,
        rank,
        name: name_of(e.id),
        kills: e.kills,
        deaths: e.deaths,
        bot: is_bot(e.id),
        own: e.id == mine.id,
    };
    let mut rows: Vec<BoardRow> = top
        .iter()
        .take(BOARD_TOP)
        .enumerate()
        .map(|(i, e)| row(Some(i + 1), e))
        .collect();
    if !rows.iter().any(|r| r.own) {
        // Alone on an empty board the own row is first; otherwise it follows, without a place.
        let rank = rows.is_empty().then_some(1);
        rows.push(row(rank, mine));
    }
    rows
}

/// The rows a watching page shows (a spectator or a replay, with no row of its own): the server's
/// top rows, the player `followed` marked as the own row is.
pub fn watch_rows(
    top: &[ScoreEntry],
    followed: Option<EntityId>,
    name_of: impl Fn(EntityId) -> String,
    is_bot: impl Fn(EntityId) -> bool,
) -> Vec<BoardRow> {
    top.iter()
        .take(BOARD_TOP)
        .enumerate()
        .map(|(i, e)| BoardRow {
            id: e.id,
            rank: Some(i + 1),
            name: name_of(e.id),
            kills: e.kills,
            deaths: e.deaths,
            bot: is_bot(e.id),
            own: Some(e.id) == followed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_added_renamed_replaced_and_forgotten() {
        let entry = |id, name: &str, bot| RosterEntry {
            id: EntityId(id),
            name: name.into(),
            bot,
        };
        let mut names = Names::default();
        assert!(names.add(&entry(2, "ada", false)));
        assert!(
            !names.add(&entry(2, "Ada", false)),
            "known: renamed, not new"
        );
        assert!(names.add(&entry(4, "Bot Bea", true)));
        assert_eq!(names.name_of(EntityId(2)), "Ada");
        assert!(names.is_bot(EntityId(4)) && !names.is_bot(EntityId(2)));
        assert_eq!(names.name_of(EntityId(9)), "#9");
        names.replace(&[entry(6, "cy", false)]);
        assert_eq!(
            (names.len(), names.name_of(EntityId(2))),
            (1, "#2".to_string())
        );
        assert!(!names.is_bot(EntityId(4)));
        names.remove(EntityId(6));
        assert!(names.is_empty());
    }

    fn entry(id: u32, kills: u32, deaths: u32) -> ScoreEntry {
        ScoreEntry {
            id: EntityId(id),
            score: kills,
            kills,
            deaths,
        }
    }

    fn rows(top: &[ScoreEntry], mine: &ScoreEntry) -> Vec<BoardRow> {
        board_rows(top, mine, |id| format!("p{}", id.0), |id| id.0 >= 100)
    }

    #[test]
    fn the_own_row_follows_the_top_ten_without_a_place() {
        let top: Vec<ScoreEntry> = (0..10).map(|i| entry(i + 95, 10 - i, i)).collect();
        let mine = entry(7, 0, 4);
        let board = rows(&top, &mine);
        assert_eq!(board.len(), 11);
        assert_eq!(board[0].rank, Some(1));
        assert_eq!(board[9].rank, Some(10));
        let own = &board[10];
        assert_eq!(
            (own.rank, own.name.as_str(), own.kills, own.deaths, own.own),
            (None, "p7", 0, 4, true)
        );
        assert!(
            board[5].bot && !board[0].bot,
            "bots are marked from the roster"
        );
    }

    #[test]
    fn the_own_row_is_not_repeated_when_in_the_top() {
        let top = [entry(1, 3, 0), entry(2, 1, 2)];
        let board = rows(&top, &entry(2, 1, 2));
        assert_eq!(board.len(), 2);
        assert_eq!(board.iter().filter(|r| r.own).count(), 1);
        assert_eq!(board[1].rank, Some(2));
    }

    #[test]
    fn an_empty_board_shows_the_own_row_first() {
        let board = rows(&[], &entry(4, 0, 0));
        assert_eq!(board.len(), 1);
        assert_eq!((board[0].rank, board[0].own), (Some(1), true));
    }

    #[test]
    fn a_watching_page_has_no_row_of_its_own_and_marks_the_player_followed() {
        let top = [entry(2, 3, 0), entry(4, 1, 2), entry(100, 0, 1)];
        let board = watch_rows(
            &top,
            Some(EntityId(4)),
            |id| format!("p{}", id.0),
            |id| id.0 >= 100,
        );
        assert_eq!(board.len(), 3);
        let marked: Vec<u32> = board.iter().filter(|r| r.own).map(|r| r.id.0).collect();
        assert_eq!(marked, [4]);
        assert_eq!((board[2].rank, board[2].bot), (Some(3), true));
        assert!(watch_rows(&top, None, |_| String::new(), |_| false)
            .iter()
            .all(|r| !r.own));
        assert!(watch_rows(&[], None, |_| String::new(), |_| false).is_empty());
        let many: Vec<ScoreEntry> = (0..12).map(|i| entry(i + 1, 12 - i, 0)).collect();
        assert_eq!(
            watch_rows(&many, None, |_| String::new(), |_| false).len(),
            BOARD_TOP
        );
    }

    #[test]
    fn more_than_ten_rows_are_cut() {
        let top: Vec<ScoreEntry> = (0..12).map(|i| entry(i + 1, 12 - i, 0)).collect();
        let board = rows(&top, &entry(1, 12, 0));
        assert_eq!(board.len(), BOARD_TOP);
    }
}
