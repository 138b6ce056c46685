//! Profiles files: the target a deployment's stack writes into a YAML file of named
//! profiles, each with a default `target` and its `outputs`, merged into the user's file.
//!
//! Merging edits the file as text: every other profile, target and comment stays byte for
//! byte, a backup of the previous file is kept, and a target lakepass did not write (it
//! carries no lakepass marker line) is only replaced when the user says so.

use crate::error::Error;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A deployment's target: where it goes and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What the stack calls it, in the hand-off and in notes.
    pub label: String,
    pub path: String,
    pub profile: String,
    pub target: String,
    pub fields: Vec<(String, Value)>,
}

/// The first line of every target lakepass writes; it is how lakepass knows its own.
pub fn marker(deployment: &str) -> String {
    format!("# managed by lakepass (deployment {deployment}); edit lakepass.yaml instead")
}

/// The target's block, indented by `indent`: the marker, `TARGET:`, then its settings.
fn target_block(target: &str, fields: &[(String, Value)], deployment: &str, indent: &str) -> String {
    let mut out = format!("{indent}{target}:\n{indent}  {}\n", marker(deployment));
    for (k, v) in fields {
        out.push_str(&format!("{indent}  {k}: {v}\n"));
    }
    out
}

/// The whole profile, for a new file or for printing.
pub fn profile_text(name: &str, target: &str, fields: &[(String, Value)], deployment: &str) -> String {
    format!("{name}:\n  target: {target}\n  outputs:\n{}", target_block(target, fields, deployment, "    "))
}

/// `~/` at the start of a path is the home directory.
pub fn expand(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// What a merge did.
#[derive(Debug, PartialEq, Eq)]
pub enum Merged {
    Created,
    Unchanged,
    Updated { backup: PathBuf },
}

/// Checks, without writing, that [`merge`] would succeed: run before anything changes in AWS.
pub fn check(
    path: &Path,
    name: &str,
    target: &str,
    fields: &[(String, Value)],
    deployment: &str,
    overwrite: bool,
) -> Result<(), Error> {
    match std::fs::read_to_string(path) {
        Ok(old) => merged_text(&old, name, target, fields, deployment, overwrite, path).map(|_| ()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io { what: format!("read {}", path.display()), source: e }),
    }
}

/// Writes the target into the profiles file at `path`. `overwrite` allows replacing a
/// target lakepass did not write.
pub fn merge(
    path: &Path,
    name: &str,
    target: &str,
    fields: &[(String, Value)],
    deployment: &str,
    overwrite: bool,
) -> Result<Merged, Error> {
    let io = |what: &str, e| Error::Io { what: format!("{what} {}", path.display()), source: e };
    let old = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("read", e)),
    };
    let Some(old) = old else {
        crate::files::replace(path, &profile_text(name, target, fields, deployment)).map_err(|e| io("write", e))?;
        return Ok(Merged::Created);
    };
    let new = merged_text(&old, name, target, fields, deployment, overwrite, path)?;
    if new == old {
        return Ok(Merged::Unchanged);
    }
    Ok(Merged::Updated { backup: write_with_backup(path, &new)? })
}

/// Copies the file beside itself (same name plus `.lakepass-backup`, so that
/// profiles.yaml stays recognisable too), then writes `new` over it, through a symlink to
/// its target and keeping its permissions (a profiles file with passwords is often
/// 0600). Returns the backup's path.
fn write_with_backup(path: &Path, new: &str) -> Result<PathBuf, Error> {
    let io = |what: &str, e| Error::Io { what: format!("{what} {}", path.display()), source: e };
    let mut backup = path.as_os_str().to_owned();
    backup.push(".lakepass-backup");
    let backup = PathBuf::from(backup);
    std::fs::copy(path, &backup).map_err(|e| io("back up", e))?;
    crate::files::replace(path, new).map_err(|e| io("write", e))?;
    Ok(backup)
}

/// The file's new text, checked: valid YAML, and everything but this target reads back
/// the same as before.
#[allow(clippy::too_many_arguments)]
fn merged_text(
    old: &str,
    name: &str,
    target: &str,
    fields: &[(String, Value)],
    deployment: &str,
    overwrite: bool,
    path: &Path,
) -> Result<String, Error> {
    let parsed: Value = serde_saphyr::from_str(old)
        .map_err(|e| Error::Config { path: path.to_path_buf(), problem: format!("not valid YAML: {e}") })?;
    let new = splice(old, name, target, fields, deployment, overwrite, path)?;
    let unsafe_merge = || Error::Config {
        path: path.to_path_buf(),
        problem: format!(
            "could not add target {target} of profile {name} without changing the rest; add it by hand (`lakepass profile` prints it)"
        ),
    };
    let reparsed: Value = serde_saphyr::from_str(&new).map_err(|_| unsafe_merge())?;
    if without_target(&parsed, name, target) != without_target(&reparsed, name, target) {
        return Err(unsafe_merge());
    }
    Ok(new)
}

fn without_target(v: &Value, name: &str, target: &str) -> Value {
    let mut v = v.clone();
    if let Some(outputs) = v.get_mut(name).and_then(|p| p.get_mut("outputs")).and_then(Value::as_object_mut) {
        outputs.remove(target);
    }
    if v.get(name).and_then(|p| p.get("outputs")).and_then(Value::as_object).is_some_and(|o| o.is_empty()) {
        v.as_object_mut().map(|m| m.remove(name));
    }
    v
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn content(l: &str) -> bool {
    !l.trim().is_empty() && !l.trim_start().starts_with('#')
}

/// The line index of key `key:` at exactly `indent` within lines[from..to].
fn find_key(lines: &[&str], from: usize, to: usize, indent: usize, key: &str) -> Option<usize> {
    (from..to).find(|&i| {
        let l = lines[i];
        content(l) && indent_of(l) == indent && l.trim_start().strip_prefix(key).is_some_and(|r| r.trim_end() == ":")
    })
}

/// The end (exclusive) of the block starting at `start`: the next content line indented
/// at most as much, with trailing blank and comment lines left to what follows.
fn block_end(lines: &[&str], start: usize, to: usize) -> usize {
    let indent = indent_of(lines[start]);
    let mut end = (start + 1..to).find(|&i| content(lines[i]) && indent_of(lines[i]) <= indent).unwrap_or(to);
    while end > start + 1 && !content(lines[end - 1]) {
        end -= 1;
    }
    end
}

/// What removing a deployment's target from a profiles file finds, or did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// No file, no such profile, or no such target.
    Absent,
    /// The target carries no lakepass marker of this deployment: someone else's.
    NotOurs,
    /// lakepass wrote it, but it was edited since.
    Edited,
    /// Removed (the whole profile where lakepass made it and nothing else was in it);
    /// the backup of the previous file, or None where the file held nothing else and is
    /// gone, as it was before lakepass wrote it.
    Removed { backup: Option<PathBuf> },
}

/// Removes the target lakepass wrote for `deployment` (exactly as [`merge`] writes it for
/// `fields`) from the profiles file, keeping everything else byte for byte. With `dry_run`,
/// only says what it would do.
pub fn remove(
    path: &Path,
    name: &str,
    target: &str,
    fields: &[(String, Value)],
    deployment: &str,
    dry_run: bool,
) -> Result<Removed, Error> {
    let io = |what: &str, e| Error::Io { what: format!("{what} {}", path.display()), source: e };
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removed::Absent),
        Err(e) => return Err(io("read", e)),
    };
    let new = match cut(&old, name, target, fields, deployment, path)? {
        Cut::Text(new) => new,
        Cut::Absent => return Ok(Removed::Absent),
        Cut::NotOurs => return Ok(Removed::NotOurs),
        Cut::Edited => return Ok(Removed::Edited),
    };
    if dry_run {
        return Ok(Removed::Removed { backup: None });
    }
    if new.trim().is_empty() {
        std::fs::remove_file(path).map_err(|e| io("remove", e))?;
        return Ok(Removed::Removed { backup: None });
    }
    Ok(Removed::Removed { backup: Some(write_with_backup(path, &new)?) })
}

enum Cut {
    Text(String),
    Absent,
    NotOurs,
    Edited,
}

/// The file's text without this deployment's target, checked to read back as before
/// without it.
fn cut(
    text: &str,
    name: &str,
    target: &str,
    fields: &[(String, Value)],
    deployment: &str,
    path: &Path,
) -> Result<Cut, Error> {
    let parsed: Value = serde_saphyr::from_str(text)
        .map_err(|e| Error::Config { path: path.to_path_buf(), problem: format!("not valid YAML: {e}") })?;
    let lines: Vec<&str> = text.lines().collect();
    let join = |parts: &[&str]| parts.iter().map(|l| format!("{l}\n")).collect::<String>();
    let Some(p) = find_key(&lines, 0, lines.len(), 0, name) else { return Ok(Cut::Absent) };
    let p_end = block_end(&lines, p, lines.len());
    let Some(child) = (p + 1..p_end).find(|&i| content(lines[i])).map(|i| indent_of(lines[i])) else {
        return Ok(Cut::Absent);
    };
    let Some(o) = find_key(&lines, p + 1, p_end, child, "outputs") else { return Ok(Cut::Absent) };
    let o_end = block_end(&lines, o, p_end);
    let Some(grandchild) = (o + 1..o_end).find(|&i| content(lines[i])).map(|i| indent_of(lines[i])) else {
        return Ok(Cut::Absent);
    };
    let Some(t) = find_key(&lines, o + 1, o_end, grandchild, target) else { return Ok(Cut::Absent) };
    let t_end = block_end(&lines, t, o_end);
    if !lines[t..t_end].iter().any(|l| l.trim() == marker(deployment)) {
        return Ok(Cut::NotOurs);
    }
    if join(&lines[t..t_end]) != target_block(target, fields, deployment, &" ".repeat(grandchild)) {
        return Ok(Cut::Edited);
    }
    // The whole profile goes where it holds nothing but its default target and ours.
    let others = (p + 1..p_end)
        .filter(|&i| content(lines[i]) && !(t..t_end).contains(&i) && i != o)
        .any(|i| !(indent_of(lines[i]) == child && lines[i].trim_start().starts_with("target:")));
    let new = if others {
        format!("{}{}", join(&lines[..t]), join(&lines[t_end..]))
    } else {
        format!("{}{}", join(&lines[..p]), join(&lines[p_end..]))
    };
    if new.trim().is_empty() {
        return Ok(Cut::Text(new));
    }
    let unsafe_cut = || Error::Config {
        path: path.to_path_buf(),
        problem: format!(
            "could not remove target {target} of profile {name} without changing the rest; remove it by hand"
        ),
    };
    let reparsed: Value = serde_saphyr::from_str(&new).map_err(|_| unsafe_cut())?;
    if without_target(&parsed, name, target) != without_target(&reparsed, name, target)
        || reparsed.get(name).and_then(|p| p.get("outputs")).and_then(|o| o.get(target)).is_some()
    {
        return Err(unsafe_cut());
    }
    Ok(Cut::Text(new))
}

#[allow(clippy::too_many_arguments)]
fn splice(
    text: &str,
    name: &str,
    target: &str,
    fields: &[(String, Value)],
    deployment: &str,
    overwrite: bool,
    path: &Path,
) -> Result<String, Error> {
    let lines: Vec<&str> = text.lines().collect();
    let join = |parts: &[&str]| parts.iter().map(|l| format!("{l}\n")).collect::<String>();
    let Some(p) = find_key(&lines, 0, lines.len(), 0, name) else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&profile_text(name, target, fields, deployment));
        return Ok(out);
    };
    let p_end = block_end(&lines, p, lines.len());
    let child = (p + 1..p_end).find(|&i| content(lines[i])).map(|i| indent_of(lines[i])).unwrap_or(2);
    let unparsable = || Error::Config {
        path: path.to_path_buf(),
        problem: format!(
            "profile {name} has no `outputs:` block lakepass can edit; add target {target} by hand (`lakepass profile` prints it)"
        ),
    };
    let o = find_key(&lines, p + 1, p_end, child, "outputs").ok_or_else(unparsable)?;
    let o_end = block_end(&lines, o, p_end);
    let grandchild = (o + 1..o_end).find(|&i| content(lines[i])).map(|i| indent_of(lines[i])).unwrap_or(child + 2);
    let indent = " ".repeat(grandchild);
    let block = target_block(target, fields, deployment, &indent);
    match find_key(&lines, o + 1, o_end, grandchild, target) {
        None => Ok(format!("{}{block}{}", join(&lines[..o_end]), join(&lines[o_end..]))),
        Some(t) => {
            let t_end = block_end(&lines, t, o_end);
            let ours = lines[t..t_end].iter().any(|l| l.trim() == marker(deployment));
            if !ours && !overwrite {
                return Err(Error::ProfileNotOurs {
                    path: path.to_path_buf(),
                    profile: name.to_string(),
                    target: target.to_string(),
                });
            }
            Ok(format!("{}{block}{}", join(&lines[..t]), join(&lines[t_end..])))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<(String, Value)> {
        let settings = json!([
            ["type", "glue"],
            ["role_arn", "arn:aws:iam::123456789012:role/r"],
            ["region", "us-east-1"],
            ["workers", 2],
            ["worker_type", "G.1X"],
            ["schema", "dbt_demo"],
            ["database", "dbt_demo"],
            ["location", "s3://b/p"],
            ["idle_timeout", 10]
        ]);
        serde_json::from_value(settings).unwrap()
    }

    const OTHER: &str = "# team profiles\nanalytics:\n  target: prod\n  outputs:\n    prod:\n      type: postgres  # keep me\n      host: db\n\n";

    #[test]
    fn a_new_file_holds_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/profiles.yml");
        assert_eq!(merge(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap(), Merged::Created);
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let t = &v["dbt_demo"]["outputs"]["dev"];
        assert_eq!(t["type"], "glue");
        assert_eq!(t["database"], t["schema"]);
        assert_eq!(t["workers"], 2);
        assert_eq!(v["dbt_demo"]["target"], "dev");
    }

    #[test]
    fn merging_keeps_other_profiles_byte_for_byte_and_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.yml");
        std::fs::write(&path, OTHER).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let Merged::Updated { backup } = merge(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap() else {
            panic!()
        };
        assert_eq!(std::fs::read_to_string(backup).unwrap(), OTHER);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "permissions kept");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(OTHER), "{text}");
        // A second target in the same profile; then rewriting our own is allowed.
        let mut more = fields();
        more.iter_mut().find(|(k, _)| k == "workers").unwrap().1 = json!(5);
        merge(&path, "dbt_demo", "ci", &fields(), "dbt", false).unwrap();
        merge(&path, "dbt_demo", "dev", &more, "dbt", false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(OTHER), "{text}");
        let v: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["dbt_demo"]["outputs"]["dev"]["workers"], 5);
        assert_eq!(v["dbt_demo"]["outputs"]["ci"]["workers"], 2);
        assert_eq!(merge(&path, "dbt_demo", "dev", &more, "dbt", false).unwrap(), Merged::Unchanged);
    }

    #[test]
    fn a_target_lakepass_did_not_write_is_not_overwritten_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.yml");
        std::fs::write(&path, OTHER).unwrap();
        let e = merge(&path, "analytics", "prod", &fields(), "dbt", false).unwrap_err();
        assert!(matches!(e, Error::ProfileNotOurs { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), OTHER);
        merge(&path, "analytics", "prod", &fields(), "dbt", true).unwrap();
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["analytics"]["outputs"]["prod"]["type"], "glue");
    }

    #[test]
    fn removing_leaves_the_file_as_it_was_before_lakepass_wrote() {
        let dir = tempfile::tempdir().unwrap();
        // A file lakepass created: gone again.
        let fresh = dir.path().join("fresh.yml");
        merge(&fresh, "dbt_demo", "dev", &fields(), "dbt", false).unwrap();
        assert!(matches!(remove(&fresh, "dbt_demo", "dev", &fields(), "dbt", true).unwrap(), Removed::Removed { .. }));
        assert!(fresh.exists(), "a dry run changes nothing");
        assert_eq!(
            remove(&fresh, "dbt_demo", "dev", &fields(), "dbt", false).unwrap(),
            Removed::Removed { backup: None }
        );
        assert!(!fresh.exists());
        assert_eq!(remove(&fresh, "dbt_demo", "dev", &fields(), "dbt", false).unwrap(), Removed::Absent);

        // A team's file: byte for byte as before, with a backup of what it was.
        let path = dir.path().join("profiles.yml");
        std::fs::write(&path, OTHER).unwrap();
        merge(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let Removed::Removed { backup: Some(backup) } =
            remove(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap()
        else {
            panic!()
        };
        assert_eq!(std::fs::read_to_string(&path).unwrap(), OTHER);
        assert_eq!(std::fs::read_to_string(backup).unwrap(), written);

        // Beside another target of the same profile, only ours goes.
        merge(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap();
        let with_dev = std::fs::read_to_string(&path).unwrap();
        merge(&path, "dbt_demo", "ci", &fields(), "dbt", false).unwrap();
        remove(&path, "dbt_demo", "ci", &fields(), "dbt", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), with_dev);
    }

    #[test]
    fn a_target_edited_since_or_not_lakepass_s_is_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.yml");
        merge(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap();
        let edited = std::fs::read_to_string(&path).unwrap().replace("workers: 2", "workers: 8");
        std::fs::write(&path, &edited).unwrap();
        assert_eq!(remove(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap(), Removed::Edited);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
        // Another deployment's target is not this one's to remove.
        assert_eq!(remove(&path, "dbt_demo", "dev", &fields(), "other", false).unwrap(), Removed::NotOurs);
        std::fs::write(&path, OTHER).unwrap();
        assert_eq!(remove(&path, "analytics", "prod", &fields(), "dbt", false).unwrap(), Removed::NotOurs);
        assert_eq!(remove(&path, "dbt_demo", "dev", &fields(), "dbt", false).unwrap(), Removed::Absent);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), OTHER);
    }
}
