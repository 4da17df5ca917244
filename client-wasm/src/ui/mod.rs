//! Pure pieces of the interface that need no browser, so they are tested natively: name labels that
//! do not overlap, the virtual stick's directions, and connection states said in words.

pub mod close_words;
pub mod labels;
pub mod stick;
