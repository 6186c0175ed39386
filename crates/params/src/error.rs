//! The error of a grid input: where it is (file, line, column), which key, and what would fix it.

use std::fmt;
use std::path::PathBuf;

/// A mistake in a grid file: where it is, which key, and what would fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct GridError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: a mistake of the file as a whole (no position to show).
        match self.line {
            0 => write!(f, "{}: ", self.file.display())?,
            _ => write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?,
        }
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}
impl std::error::Error for GridError {}
