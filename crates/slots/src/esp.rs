//! Files on the EFI system partition, either through its mount (the node's
//! /boot/efi) or, when it is not mounted (a disk image, a disk being
//! prepared), with mtools on the partition's bytes, as crates/disk writes
//! it. Never both at once: writing under a mounted vfat would corrupt it.
//!
//! New files are written beside their target and renamed over it. The
//! grubenv is rewritten in place (same clusters, same 1024 bytes), because
//! GRUB's `save_env` writes through the blocks the file already has.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use mk_grubenv::{GrubEnv, GrubEnvError, BLOCK_SIZE};

use crate::GRUBENV;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Esp {
    /// The ESP mounted at this directory.
    Mounted(PathBuf),
    /// The ESP partition at `offset` of `disk`, used through mtools.
    Partition { disk: PathBuf, offset: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum EspError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("ESP file {path}: {source}")]
    Grubenv {
        path: String,
        #[source]
        source: GrubEnvError,
    },
    #[error("{program} {args}: {stderr}")]
    Mtools {
        program: &'static str,
        args: String,
        stderr: String,
    },
    #[error("ESP of {disk}: {what}")]
    Fat { disk: PathBuf, what: String },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> EspError + 'a {
    move |source| EspError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

impl Esp {
    /// Reads a file (path relative to the ESP's root, `/`-separated).
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, EspError> {
        match self {
            Esp::Mounted(dir) => {
                let p = dir.join(rel);
                std::fs::read(&p).map_err(io_err("reading", &p))
            }
            Esp::Partition { .. } => {
                let tmp = tempfile::tempdir()
                    .map_err(io_err("creating a temporary directory", Path::new("/tmp")))?;
                let out = tmp.path().join("file");
                self.mtools("mcopy", &[&format!("::/{rel}"), &out.to_string_lossy()])?;
                std::fs::read(&out).map_err(io_err("reading", &out))
            }
        }
    }

    /// Writes a file: to a temporary name in the same directory, synced,
    /// then renamed over `rel`. Parent directories are created.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), EspError> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let tmp_name = format!(".{name}.new");
        match self {
            Esp::Mounted(root) => {
                let d = root.join(dir);
                std::fs::create_dir_all(&d).map_err(io_err("creating", &d))?;
                let target = d.join(name);
                let tmp = d.join(&tmp_name);
                let mut f = std::fs::File::create(&tmp).map_err(io_err("creating", &tmp))?;
                f.write_all(bytes).map_err(io_err("writing", &tmp))?;
                f.sync_all().map_err(io_err("syncing", &tmp))?;
                std::fs::rename(&tmp, &target).map_err(io_err("renaming into", &target))?;
                std::fs::File::open(&d)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err("syncing", &d))
            }
            Esp::Partition { disk, .. } => {
                let mut path = String::new();
                for part in dir.split('/').filter(|p| !p.is_empty()) {
                    path = format!("{path}/{part}");
                    if !self.exists(&path[1..])? {
                        self.mtools("mmd", &[&format!("::{path}")])?;
                    }
                }
                let src = tempfile::NamedTempFile::new()
                    .map_err(io_err("creating a temporary file", Path::new("/tmp")))?;
                std::fs::write(src.path(), bytes).map_err(io_err("writing", src.path()))?;
                let tmp = format!("::{path}/{tmp_name}");
                let target = format!("::{path}/{name}");
                self.mtools("mcopy", &["-o", &src.path().to_string_lossy(), &tmp])?;
                if self.exists(&format!("{dir}/{name}"))? {
                    self.mtools("mdel", &[&target])?;
                }
                self.mtools("mren", &[&tmp, &target])?;
                sync(disk)
            }
        }
    }

    fn exists(&self, rel: &str) -> Result<bool, EspError> {
        match self {
            Esp::Mounted(root) => Ok(root.join(rel).exists()),
            Esp::Partition { .. } => Ok(self
                .command("mdir")
                .args(["-b", &format!("::/{rel}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)),
        }
    }

    /// The GRUB environment block (`EFI/mk/grubenv`).
    pub fn load_grubenv(&self) -> Result<GrubEnv, EspError> {
        let bytes = self.read(GRUBENV)?;
        GrubEnv::parse(&bytes).map_err(|source| EspError::Grubenv {
            path: GRUBENV.into(),
            source,
        })
    }

    /// Rewrites the grubenv in place: the same file, its same blocks.
    pub fn store_grubenv(&self, env: &GrubEnv) -> Result<(), EspError> {
        let grubenv_err = |source| EspError::Grubenv {
            path: GRUBENV.into(),
            source,
        };
        match self {
            Esp::Mounted(root) => {
                mk_grubenv::store_in_place(&root.join(GRUBENV), env).map_err(grubenv_err)
            }
            Esp::Partition { disk, offset } => {
                let bytes = env.render().map_err(grubenv_err)?;
                // Where the file's clusters are, as GRUB's blocklist has them.
                let extents = self.file_extents(GRUBENV)?;
                let total: u64 = extents.iter().map(|e| e.1).sum();
                if total < BLOCK_SIZE as u64 {
                    return Err(EspError::Fat {
                        disk: disk.clone(),
                        what: format!("{GRUBENV} has {total} bytes of clusters, less than a {BLOCK_SIZE}-byte block"),
                    });
                }
                let mut f = OpenOptions::new()
                    .write(true)
                    .open(disk)
                    .map_err(io_err("opening for writing", disk))?;
                let mut rest = &bytes[..];
                for (start, len) in extents {
                    if rest.is_empty() {
                        break;
                    }
                    let n = (len as usize).min(rest.len());
                    f.seek(SeekFrom::Start(offset + start))
                        .map_err(io_err("seeking in", disk))?;
                    f.write_all(&rest[..n]).map_err(io_err("writing", disk))?;
                    rest = &rest[n..];
                }
                f.sync_all().map_err(io_err("syncing", disk))
            }
        }
    }

    /// Byte extents (offset within the partition, length) of a file's
    /// clusters, from `mshowfat` and the FAT boot sector's geometry.
    fn file_extents(&self, rel: &str) -> Result<Vec<(u64, u64)>, EspError> {
        let Esp::Partition { disk, offset } = self else {
            unreachable!("only for an unmounted ESP")
        };
        let fat = |what: String| EspError::Fat {
            disk: disk.clone(),
            what,
        };
        let mut boot = [0u8; 512];
        let mut f = std::fs::File::open(disk).map_err(io_err("opening", disk))?;
        f.seek(SeekFrom::Start(*offset))
            .map_err(io_err("seeking in", disk))?;
        f.read_exact(&mut boot)
            .map_err(io_err("reading the FAT boot sector of", disk))?;
        let u16_at = |i: usize| u16::from_le_bytes([boot[i], boot[i + 1]]) as u64;
        let bps = u16_at(11);
        let spc = boot[13] as u64;
        let reserved = u16_at(14);
        let nfats = boot[16] as u64;
        let root_entries = u16_at(17);
        let fat_size = match u16_at(22) {
            0 => u32::from_le_bytes([boot[36], boot[37], boot[38], boot[39]]) as u64,
            n => n,
        };
        if ![512, 1024, 2048, 4096].contains(&bps) || spc == 0 || nfats == 0 || fat_size == 0 {
            return Err(fat(format!(
                "not a FAT boot sector (bytes/sector {bps}, sectors/cluster {spc}, FATs {nfats})"
            )));
        }
        let data_start = (reserved + nfats * fat_size + (root_entries * 32).div_ceil(bps)) * bps;
        let cluster = spc * bps;
        let out = self.mtools("mshowfat", &[&format!("::/{rel}")])?;
        // "::/EFI/mk/grubenv <5-6> <9>"
        let mut extents = Vec::new();
        for range in out.split('<').skip(1) {
            let range = range.split('>').next().unwrap_or("");
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) else {
                return Err(fat(format!("cannot read mshowfat's cluster list {out:?}")));
            };
            if a < 2 || b < a {
                return Err(fat(format!("cluster range <{range}> of {rel} is invalid")));
            }
            extents.push((data_start + (a - 2) * cluster, (b - a + 1) * cluster));
        }
        if extents.is_empty() {
            return Err(fat(format!("{rel} has no clusters ({out:?})")));
        }
        Ok(extents)
    }

    fn command(&self, program: &str) -> Command {
        let Esp::Partition { disk, offset } = self else {
            unreachable!("mtools only for an unmounted ESP")
        };
        let mut cmd = Command::new(program);
        cmd.env("MTOOLSRC", "/dev/null")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(format!("{}@@{}", disk.display(), offset));
        cmd
    }

    fn mtools(&self, program: &'static str, args: &[&str]) -> Result<String, EspError> {
        let out = self.command(program).args(args).output().map_err(io_err(
            "running (mtools must be installed)",
            Path::new(program),
        ))?;
        if !out.status.success() {
            return Err(EspError::Mtools {
                program,
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn sync(disk: &Path) -> Result<(), EspError> {
    OpenOptions::new()
        .write(true)
        .open(disk)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing", disk))
}
