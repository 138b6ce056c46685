//! Handing a new access key's secret over: to a new 0600 file, or once on stdout. It
//! happens the moment the key exists, before anything records the key as live.

use crate::apply::{Handover, Progress, Secret};
use crate::error::Error;
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a run hands a new secret.
pub(crate) struct SecretOut {
    file: RefCell<Option<SecretFile>>,
}

impl SecretOut {
    /// Shown on stdout.
    pub(crate) fn shown() -> SecretOut {
        SecretOut { file: RefCell::new(None) }
    }

    /// Written to a new file, created now (before the key exists) so that a path that
    /// cannot take it stops the run before any change.
    pub(crate) fn to_file(path: &Path, replace: bool) -> Result<SecretOut, Error> {
        Ok(SecretOut { file: RefCell::new(Some(SecretFile::prepare(path, replace)?)) })
    }
}

impl Handover for SecretOut {
    fn hand_over(&self, user: &str, id: &str, secret: Secret, progress: &dyn Progress) -> String {
        let mut problem = None;
        if let Some(mut file) = self.file.borrow_mut().take() {
            match file.write(secret.expose()) {
                Ok(path) => {
                    let text = format!(
                        "New access key of user {user}: {id}; its secret is in {} (mode 0600).\n",
                        path.display()
                    );
                    progress.suspend(&mut || super::print(&text));
                    return format!("written to {} (mode 0600)", path.display());
                }
                Err(e) => problem = Some(e),
            }
        }
        let mut text = format!(
            "\nNew access key of user {user}. Its secret is shown once, here; lakepass keeps no copy:\n  {:<15} {id}\n  {:<15} {}\n",
            "access key ID:",
            "secret key:",
            secret.expose()
        );
        if let Some(e) = &problem {
            text.push_str(&format!("  ({e}; the secret is shown instead)\n"));
        }
        text.push('\n');
        progress.suspend(&mut || super::print(&text));
        "shown above, once".into()
    }
}

/// A new file (mode 0600), created before the key exists and written once it does. It is
/// never opened through a symbolic link, and an existing file is replaced only when the
/// user said so. Left empty, it is removed again.
struct SecretFile {
    path: PathBuf,
    file: std::fs::File,
    written: bool,
}

impl SecretFile {
    fn prepare(path: &Path, replace: bool) -> Result<SecretFile, Error> {
        check_secret_file(path, replace)?;
        if replace && std::fs::symlink_metadata(path).is_ok() {
            std::fs::remove_file(path)
                .map_err(|e| Error::Io { what: format!("remove the old secret file {}", path.display()), source: e })?;
        }
        let file = crate::files::create_private(path)
            .map_err(|e| Error::Io { what: format!("create the secret file {}", path.display()), source: e })?;
        Ok(SecretFile { path: path.to_path_buf(), file, written: false })
    }

    fn write(&mut self, secret: &str) -> Result<PathBuf, Error> {
        let io = |e| Error::Io { what: format!("write the secret to {}", self.path.display()), source: e };
        self.file.write_all(secret.as_bytes()).map_err(io)?;
        self.file.write_all(b"\n").map_err(io)?;
        self.file.sync_all().map_err(io)?;
        self.written = true;
        Ok(self.path.clone())
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        if !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether a secret can go to `path`, without creating it: a new file (or, with
/// `replace`, an existing regular file) in a directory that exists, never a link.
pub(crate) fn check_secret_file(path: &Path, replace: bool) -> Result<(), Error> {
    let refuse = |problem: String, fix: &str| Error::Value {
        field: "--secret-file".into(),
        problem: format!("{}: {problem}", path.display()),
        fix: fix.into(),
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(refuse(
                "is a symbolic link; lakepass writes a secret only to a file it creates".into(),
                "name a path that does not exist yet",
            ));
        }
        Ok(m) if !m.is_file() => return Err(refuse("exists and is not a file".into(), "name a new file")),
        Ok(_) if !replace => {
            return Err(refuse(
                "already exists".into(),
                "name a new file, or pass --replace-secret-file to replace it",
            ));
        }
        Ok(_) => {}
        Err(_) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return Err(refuse(
                    format!("its directory {} does not exist", dir.display()),
                    "create the directory first, or name a file in an existing one",
                ));
            }
        }
    }
    Ok(())
}
