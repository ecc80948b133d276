//! Scratch directories for tests: unique per test, removed on drop (also when the test fails).

use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, removed with its contents on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `tag` says which test made it, for whoever finds one left by a killed run.
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "blkscope-{tag}-{}-{}",
            std::process::id(),
            crate::unique()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
