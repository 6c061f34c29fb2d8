//! What is on disk: a snapshot of a directory tree (following no link) to prove that a
//! refusal changed nothing, and the temp files a killed writer leaves behind.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Files up to this size are kept whole in a snapshot; larger ones (huge, often sparse
/// files planted to test the size cap) by inode, size and change times, which any write
/// through any path would change.
const KEEP_WHOLE: u64 = 1 << 20;

/// One entry of a snapshot: its path, and everything about it that a write could change.
pub(crate) type Entry = (String, String);

/// Every entry under `root` (not following links): type, mode, owner, and the content of
/// files (or the inode and times of big ones), the target of links, the device number of
/// devices.
/// Directories the caller cannot read are listed without their content.
pub(crate) fn snapshot(root: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("list dir").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let ty = meta.file_type();
            let head = format!("mode {:o} uid {}", meta.mode(), meta.uid());
            let what = if ty.is_dir() {
                stack.push(path.clone());
                format!("dir {head}")
            } else if ty.is_symlink() {
                let target = std::fs::read_link(&path).expect("readlink");
                format!("link -> {}", target.display())
            } else if ty.is_file() {
                format!("file {head} {}", content(&path, &meta))
            } else if ty.is_char_device() || ty.is_block_device() {
                format!("device {head} rdev {:x}", meta.rdev())
            } else {
                format!("special {head}")
            };
            out.push((path.display().to_string(), what));
        }
    }
    out.sort();
    out
}

/// A file's bytes (escaped), or its inode, size and times when it is big.
fn content(path: &Path, meta: &std::fs::Metadata) -> String {
    if meta.len() > KEEP_WHOLE {
        return format!(
            "{} bytes, inode {}, mtime {}.{:09}, ctime {}.{:09}",
            meta.len(),
            meta.ino(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        );
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .expect("read for snapshot");
    bytes.escape_ascii().to_string()
}

/// The names of temp files (`.<name>.tmp.<random>`) in `dir`, sorted; none when `dir` is
/// missing.
pub(crate) fn temp_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') && n.contains(".tmp."))
        .collect()
}

/// The names in `dir`, sorted; none when `dir` is missing.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| {
            e.expect("list dir")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Makes a special file of mode 0600 at `path`, where nothing is: a FIFO, or a device
/// numbered `dev`.
pub(crate) fn make_node(path: &Path, kind: rustix::fs::FileType, dev: rustix::fs::Dev) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        kind,
        rustix::fs::Mode::from_raw_mode(0o600),
        dev,
    )
    .expect("mknod");
}

/// Replaces the file at `path` with a special file (see [`make_node`]).
pub(crate) fn replace_with_node(path: &Path, kind: rustix::fs::FileType, dev: rustix::fs::Dev) {
    std::fs::remove_file(path).expect("remove the file");
    make_node(path, kind, dev);
}
