//! ext4 filesystems written by e2fsprogs straight into the image.
//!
//! Why e2fsprogs and not a Rust writer: no crate writes ext4 with xattrs,
//! journal and htree directories well enough (they are read-only, lack mkfs
//! or xattrs); `mke2fs -d` copies a staging tree with owners, modes, device
//! nodes, hard links and xattrs in about a second for 300 MB, and writes at
//! a byte offset inside the disk image (`-E offset=`), so no copy is needed.
//! One `debugfs -w -f` pass then sets the SELinux labels and resets the
//! inode times `mke2fs -d` copied from the staging tree.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{io, DiskError};
use crate::layout::{FsIds, EXT4_BLOCK, EXT4_INODE_RATIO, EXT4_INODE_SIZE};
use crate::tool::{self, at_offset, command};
use crate::tree::Entry;

/// Features of our ext4 filesystems: Debian's defaults minus `metadata_csum`,
/// `64bit` (and `orphan_file`, `metadata_csum_seed`), which CentOS 7's
/// e2fsprogs 1.42.9 cannot check; plus `uninit_bg`, its checksum of choice.
pub const EXT4_FEATURES: &str =
    "has_journal,extent,huge_file,flex_bg,uninit_bg,dir_nlink,extra_isize";
const BASE_FEATURES: &str = "sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr";

/// Our own mke2fs.conf: the host's /etc/mke2fs.conf differs between
/// e2fsprogs versions and would make the bytes depend on the build machine.
fn mke2fs_conf() -> String {
    format!(
        "[defaults]\n\tbase_features = {BASE_FEATURES}\n\tdefault_mntopts = acl,user_xattr\n\
         \tenable_periodic_fsck = 0\n\tblocksize = {EXT4_BLOCK}\n\tinode_size = {EXT4_INODE_SIZE}\n\
         \tinode_ratio = {EXT4_INODE_RATIO}\n\
         [fs_types]\n\text4 = {{\n\t\tfeatures = {EXT4_FEATURES}\n\t}}\n"
    )
}

/// One filesystem to write.
pub struct Ext4Job<'a> {
    /// Which partition, for messages ("root", "state").
    pub part: &'static str,
    pub image: &'a Path,
    pub offset: u64,
    pub size: u64,
    pub tree: &'a Path,
    pub entries: &'a [Entry],
    pub selinux_labels: &'a BTreeMap<String, String>,
    pub ids: FsIds,
    pub volume_label: &'a str,
    pub inodes: u64,
    /// Reserved-for-root percentage (0 for the read-only root).
    pub reserved_percent: u8,
    pub epoch: i64,
    /// Scratch directory for mke2fs.conf, command and label files.
    pub scratch: &'a Path,
}

/// Quotes a path for debugfs' command parser: inside double quotes, a quote
/// is written twice. Newlines cannot be expressed (commands are lines).
fn quote(part: &str, path: &[u8]) -> Result<Vec<u8>, DiskError> {
    if path.contains(&b'\n') || path.contains(&b'\r') {
        return Err(DiskError::Tree {
            path: Path::new(std::ffi::OsStr::from_bytes(path)).to_path_buf(),
            reason: format!("{part}: file names with newlines cannot be written by debugfs"),
        });
    }
    let mut q = Vec::with_capacity(path.len() + 2);
    q.push(b'"');
    for &b in path {
        if b == b'"' {
            q.push(b'"');
        }
        q.push(b);
    }
    q.push(b'"');
    Ok(q)
}

/// A label key must be an absolute, normalised path: `/`, `/etc/passwd`.
fn check_label_path(path: &str) -> Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    if !path.starts_with('/') || path.ends_with('/') {
        return Err("must be an absolute path without a trailing /".into());
    }
    // Split by hand: Path::components drops "." silently.
    let ok = path[1..]
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != "..");
    if !ok {
        return Err("must not contain //, . or .. components".into());
    }
    Ok(())
}

fn check_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.bytes().any(|b| b == 0 || b == b'\n') {
        return Err("must not contain NUL or newline".into());
    }
    // An SELinux context is user:role:type[:range].
    if value.split(':').count() < 3 {
        return Err(format!(
            "{value:?} is not an SELinux context (user:role:type[:range])"
        ));
    }
    Ok(())
}

/// Builds the debugfs script: labels first, then times (setting an xattr must
/// not be the last thing to touch an inode).
pub fn debugfs_script(
    part: &str,
    entries: &[Entry],
    labels: &BTreeMap<String, String>,
    label_files: &BTreeMap<String, String>,
    epoch: i64,
) -> Result<Vec<u8>, DiskError> {
    let mut paths: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut order: Vec<Vec<u8>> = vec![b"/".to_vec()];
    for e in entries {
        let mut p = b"/".to_vec();
        p.extend_from_slice(e.rel.as_os_str().as_bytes());
        paths.insert(p.clone());
        order.push(p);
    }
    let mut script = Vec::new();
    for (path, label) in labels {
        check_label_path(path).map_err(|reason| DiskError::Label {
            path: path.clone(),
            reason,
        })?;
        check_label(label).map_err(|reason| DiskError::Label {
            path: path.clone(),
            reason,
        })?;
        // mke2fs creates /lost+found when the tree has none.
        if path != "/" && path != "/lost+found" && !paths.contains(path.as_bytes()) {
            return Err(DiskError::Label {
                path: path.clone(),
                reason: format!("no such path in the {part} staging tree"),
            });
        }
        script.extend_from_slice(b"ea_set -f ");
        script.extend(quote(part, label_files[label].as_bytes())?);
        script.push(b' ');
        script.extend(quote(part, path.as_bytes())?);
        script.extend_from_slice(b" security.selinux\n");
    }
    for p in &order {
        let q = quote(part, p)?;
        for field in ["atime", "mtime", "ctime", "crtime"] {
            script.extend_from_slice(b"sif ");
            script.extend_from_slice(&q);
            script.extend_from_slice(format!(" {field} @{epoch}\n").as_bytes());
        }
    }
    Ok(script)
}

/// Writes the filesystem: mke2fs -d, then the debugfs pass.
pub fn write_ext4(job: &Ext4Job) -> Result<(), DiskError> {
    let part = job.part;
    if job.volume_label.len() > 16 {
        return Err(DiskError::Spec(format!(
            "{part} filesystem label {:?} is longer than 16 bytes",
            job.volume_label
        )));
    }
    let conf = job.scratch.join(format!("mke2fs-{part}.conf"));
    fs::write(&conf, mke2fs_conf()).map_err(io(&conf))?;
    let epoch = job.epoch.to_string();

    let t = std::time::Instant::now();
    tool::run(
        &format!("writing the {part} filesystem"),
        command("mke2fs")
            .env("MKE2FS_CONFIG", &conf)
            .env("E2FSPROGS_FAKE_TIME", &epoch)
            .args(["-q", "-F", "-F", "-t", "ext4", "-T", "ext4"])
            .args([
                "-b",
                &EXT4_BLOCK.to_string(),
                "-I",
                &EXT4_INODE_SIZE.to_string(),
            ])
            .args(["-N", &job.inodes.to_string()])
            .args(["-m", &job.reserved_percent.to_string()])
            .args(["-U", &job.ids.uuid.to_string(), "-L", job.volume_label])
            .arg("-E")
            .arg(format!(
                "offset={},root_owner=0:0,hash_seed={},nodiscard",
                job.offset, job.ids.hash_seed
            ))
            .arg("-d")
            .arg(job.tree)
            .arg(job.image)
            .arg(format!("{}k", job.size / 1024)),
    )?;
    tracing::info!(
        part,
        entries = job.entries.len(),
        secs = t.elapsed().as_secs_f32(),
        "mke2fs -d done"
    );

    // One file per distinct label: `ea_set -f` stores the file's bytes as
    // the value, so the trailing NUL the kernel writes is kept.
    let mut label_files = BTreeMap::new();
    let distinct: BTreeSet<&String> = job.selinux_labels.values().collect();
    for (i, label) in distinct.into_iter().enumerate() {
        let f = job.scratch.join(format!("label-{part}-{i}"));
        let mut bytes = label.as_bytes().to_vec();
        bytes.push(0);
        fs::write(&f, bytes).map_err(io(&f))?;
        label_files.insert(label.clone(), f.to_string_lossy().into_owned());
    }
    let script = debugfs_script(
        part,
        job.entries,
        job.selinux_labels,
        &label_files,
        job.epoch,
    )?;
    let cmds = job.scratch.join(format!("debugfs-{part}.cmds"));
    fs::write(&cmds, &script).map_err(io(&cmds))?;

    let t = std::time::Instant::now();
    let out = tool::run(
        &format!("labelling the {part} filesystem"),
        command("debugfs")
            .env("E2FSPROGS_FAKE_TIME", &epoch)
            .arg("-w")
            .arg("-f")
            .arg(&cmds)
            .arg(at_offset(job.image, job.offset)),
    )?;
    // debugfs exits 0 even when a command fails; its errors go to stderr,
    // next to its version banner.
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs 1."))
        .collect();
    if !errors.is_empty() {
        let shown: Vec<&str> = errors.iter().take(20).copied().collect();
        return Err(DiskError::Check {
            what: format!(
                "debugfs pass on the {part} filesystem ({} errors)",
                errors.len()
            ),
            output: shown.join("\n"),
        });
    }
    tracing::info!(
        part,
        labels = job.selinux_labels.len(),
        inodes = job.entries.len() + 1,
        secs = t.elapsed().as_secs_f32(),
        "labels set, times reset"
    );
    Ok(())
}

/// `e2fsck -fn` on the filesystem at `offset`.
pub fn check_ext4(part: &str, image: &Path, offset: u64) -> Result<(), DiskError> {
    tool::run(
        &format!("checking the {part} filesystem"),
        command("e2fsck").arg("-fn").arg(at_offset(image, offset)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes_and_refuses_newlines() {
        assert_eq!(quote("root", b"/a b").unwrap(), b"\"/a b\"");
        assert_eq!(quote("root", b"/q\"x").unwrap(), b"\"/q\"\"x\"");
        assert!(quote("root", b"/a\nb").is_err());
    }

    #[test]
    fn label_paths_and_values_are_checked() {
        assert!(check_label_path("/").is_ok());
        assert!(check_label_path("/etc/passwd").is_ok());
        for bad in ["etc", "/etc/", "/a//b", "/a/../b", "/./a"] {
            assert!(check_label_path(bad).is_err(), "{bad}");
        }
        assert!(check_label("system_u:object_r:etc_t:s0").is_ok());
        assert!(check_label("etc_t").is_err());
        assert!(check_label("").is_err());
    }

    #[test]
    fn conf_pins_features_without_csum_or_64bit() {
        let c = mke2fs_conf();
        assert!(c.contains(EXT4_FEATURES));
        for f in ["metadata_csum", "64bit", "orphan_file"] {
            assert!(!c.contains(f), "{f}");
        }
    }
}
