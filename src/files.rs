//! Every file lakepass writes goes through here: a user's file or the state replaced
//! whole or not at all ([`replace`]), a secret's new private file ([`create_private`]),
//! and a run's lock ([`open_lock`]).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `text` to `path` atomically (a temporary file beside the real one, synced, then
/// renamed over it), creating missing parent directories. An existing file keeps its
/// permissions; a link keeps being a link.
pub fn replace(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir)?;
    }
    let (real, permissions) = match std::fs::canonicalize(path) {
        Ok(real) => {
            let permissions = std::fs::metadata(&real)?.permissions();
            (real, Some(permissions))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (path.to_path_buf(), None),
        Err(e) => return Err(e),
    };
    let mut tmp = real.as_os_str().to_owned();
    tmp.push(format!(".lakepass-{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Some(p) = permissions {
            std::fs::set_permissions(&tmp, p)?;
        }
        std::fs::rename(&tmp, &real)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates a new file only the user may read (mode 0600). O_CREAT|O_EXCL: it fails rather
/// than open an existing file, or follow a link created meanwhile.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Renames a file (keeping a moved state's local copy aside).
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)
}

/// Opens (creating) a lock file, and its folder, without truncating it.
pub fn open_lock(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn permissions_and_links_survive() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        replace(&link, "new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o600);
        replace(&dir.path().join("fresh.yaml"), "x").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "no temporary file left");
    }
}
