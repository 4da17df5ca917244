//! The DOM side of the HUD: status line, leaderboard, chat log, debug overlay. Player text is always
//! inserted as text nodes, never as HTML.

use crate::board::BoardRow;
use wasm_bindgen::JsValue;
use web_sys::{Document, Element};

/// Most chat lines kept in the log.
const CHAT_LINES: u32 = 50;

/// Handles to the HUD elements of `index.html`.
pub struct Hud {
    doc: Document,
    status: Element,
    leaderboard: Element,
    chat_log: Element,
    debug: Element,
    debug_visible: bool,
    last_status: String,
    last_leaderboard: String,
}

fn by_id(doc: &Document, id: &str) -> Result<Element, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("missing #{id}")))
}

impl Hud {
    /// Finds the HUD elements.
    pub fn new(doc: &Document) -> Result<Hud, JsValue> {
        Ok(Hud {
            doc: doc.clone(),
            status: by_id(doc, "status")?,
            leaderboard: by_id(doc, "leaderboard")?,
            chat_log: by_id(doc, "chat-log")?,
            debug: by_id(doc, "debug")?,
            debug_visible: false,
            last_status: String::new(),
            last_leaderboard: String::new(),
        })
    }

    /// Sets the status line (connection state, ping, FPS) if it changed.
    pub fn set_status(&mut self, text: &str) {
        if text != self.last_status {
            self.status.set_text_content(Some(text));
            self.last_status = text.to_string();
        }
    }

    /// Replaces the leaderboard: a title line (room and player counts) and the rows, each with
    /// kills and deaths; a row without a rank (the own row below the top ten) comes after a gap.
    pub fn set_leaderboard(&mut self, title: &str, rows: &[BoardRow]) -> Result<(), JsValue> {
        let key = format!("{title}{rows:?}");
        if key == self.last_leaderboard {
            return Ok(());
        }
        self.last_leaderboard = key;
        self.leaderboard.set_text_content(None);
        let heading = self.doc.create_element("div")?;
        heading.set_class_name("lb-title");
        heading.set_text_content(Some(title));
        self.leaderboard.append_child(&heading)?;
        let header = self.doc.create_element("div")?;
        header.set_class_name("lb-row lb-head");
        for (class, text) in [("lb-name", "Player"), ("lb-num", "K"), ("lb-num", "D")] {
            let cell = self.doc.create_element("span")?;
            cell.set_class_name(class);
            cell.set_text_content(Some(text));
            header.append_child(&cell)?;
        }
        self.leaderboard.append_child(&header)?;
        for row in rows {
            if row.rank.is_none() {
                let gap = self.doc.create_element("div")?;
                gap.set_class_name("lb-gap");
                gap.set_text_content(Some("⋯"));
                self.leaderboard.append_child(&gap)?;
            }
            let line = self.doc.create_element("div")?;
            line.set_class_name(if row.own { "lb-row own" } else { "lb-row" });
            // A watching page follows the player whose row is clicked.
            line.set_attribute("data-id", &row.id.0.to_string())?;
            let label = self.doc.create_element("span")?;
            label.set_class_name("lb-name");
            let text = match row.rank {
                Some(rank) => format!("{rank}. {}", row.name),
                None => format!("– {}", row.name),
            };
            label.set_text_content(Some(&text));
            if row.bot {
                let bot = self.doc.create_element("span")?;
                bot.set_class_name("lb-bot");
                bot.set_text_content(Some("BOT"));
                bot.set_attribute("title", "a bot filling the room")?;
                label.append_child(&bot)?;
            }
            line.append_child(&label)?;
            for value in [row.kills, row.deaths] {
                let cell = self.doc.create_element("span")?;
                cell.set_class_name("lb-num");
                cell.set_text_content(Some(&value.to_string()));
                line.append_child(&cell)?;
            }
            self.leaderboard.append_child(&line)?;
        }
        Ok(())
    }

    /// Appends a chat or system line to the log, as text.
    pub fn add_chat(&self, from: Option<&str>, text: &str) -> Result<(), JsValue> {
        self.add_line(
            if from.is_some() {
                "chat-line"
            } else {
                "chat-line system"
            },
            from,
            text,
        )
    }

    /// Appends a notice from the server (to this player or to all, such as "slow down: your chat
    /// was not sent"), set apart from chat.
    pub fn add_notice(&self, text: &str) -> Result<(), JsValue> {
        self.add_line("chat-line notice", Some("server"), text)
    }

    fn add_line(&self, class: &str, from: Option<&str>, text: &str) -> Result<(), JsValue> {
        let line = self.doc.create_element("div")?;
        line.set_class_name(class);
        if let Some(from) = from {
            let name = self.doc.create_element("b")?;
            name.set_text_content(Some(&format!("{from}: ")));
            line.append_child(&name)?;
        }
        line.append_child(&self.doc.create_text_node(text))?;
        self.chat_log.append_child(&line)?;
        while self.chat_log.child_element_count() > CHAT_LINES {
            if let Some(first) = self.chat_log.first_element_child() {
                first.remove();
            }
        }
        self.chat_log.set_scroll_top(self.chat_log.scroll_height());
        // Where the chat is folded away (small screens), its button shows there is something new.
        if let Some(toggle) = self.doc.get_element_by_id("chat-toggle") {
            let _ = toggle.class_list().add_1("unread");
        }
        Ok(())
    }

    /// Shows or hides the debug overlay.
    pub fn toggle_debug(&mut self) {
        self.debug_visible = !self.debug_visible;
        let _ = self
            .debug
            .class_list()
            .toggle_with_force("hidden", !self.debug_visible);
    }

    /// Whether the debug overlay is shown.
    pub fn debug_visible(&self) -> bool {
        self.debug_visible
    }

    /// Sets the debug overlay's text.
    pub fn set_debug(&self, text: &str) {
        self.debug.set_text_content(Some(text));
    }
}
