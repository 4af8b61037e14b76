//! `xinbao-lazyfs BACKING MOUNTPOINT`: a FUSE file system over the directory `BACKING`
//! that holds every write in memory until its file is synced, as a disk's volatile cache
//! and the kernel's page cache do, and loses whatever was not synced when it stops. Kill
//! it (and the program using it) with SIGKILL, unmount (`fusermount3 -uz MOUNTPOINT`) and
//! mount `BACKING` again: that is a power cut. What was synced with `fsync` or
//! `fdatasync` is in `BACKING`; what was written and not synced is gone, and so are
//! unsynced changes of length (`ftruncate`, `set_len`), as with Jepsen's LazyFS.
//!
//! Creating, renaming and removing files and directories reach `BACKING` at once, as in
//! LazyFS: the test finds a program that writes without syncing, not one that forgets to
//! sync a directory. The file system is single-threaded and meant for tests.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

/// Attributes are not cached by the kernel: sizes change with unsynced writes.
const TTL: Duration = Duration::ZERO;
const ROOT: u64 = 1;

/// A change to a file not yet synced.
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

struct Lazy {
    backing: PathBuf,
    /// Inode → path under `backing` (the root is the empty path).
    paths: HashMap<u64, PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    next: u64,
    /// Each file's changes since it was last synced, in order.
    unsynced: HashMap<u64, Vec<Op>>,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl Lazy {
    fn new(backing: PathBuf) -> Lazy {
        let mut lazy = Lazy {
            backing,
            paths: HashMap::new(),
            inodes: HashMap::new(),
            next: ROOT + 1,
            unsynced: HashMap::new(),
        };
        lazy.paths.insert(ROOT, PathBuf::new());
        lazy.inodes.insert(PathBuf::new(), ROOT);
        lazy
    }

    fn real(&self, ino: u64) -> Option<PathBuf> {
        self.paths.get(&ino).map(|p| self.backing.join(p))
    }

    fn child(&self, parent: u64, name: &OsStr) -> Option<PathBuf> {
        self.paths.get(&parent).map(|p| p.join(name))
    }

    fn inode(&mut self, path: &Path) -> u64 {
        if let Some(ino) = self.inodes.get(path) {
            return *ino;
        }
        let ino = self.next;
        self.next += 1;
        self.paths.insert(ino, path.to_path_buf());
        self.inodes.insert(path.to_path_buf(), ino);
        ino
    }

    fn forget_path(&mut self, path: &Path) {
        if let Some(ino) = self.inodes.remove(path) {
            self.paths.remove(&ino);
            self.unsynced.remove(&ino);
        }
    }

    /// The length of `ino` as its writer sees it, from the synced length `base`.
    fn length(&self, ino: u64, base: u64) -> u64 {
        let mut len = base;
        for op in self.unsynced.get(&ino).into_iter().flatten() {
            match op {
                Op::SetLen(n) => len = *n,
                Op::Write(at, data) => len = len.max(at + data.len() as u64),
            }
        }
        len
    }

    fn attr(&self, ino: u64) -> io::Result<FileAttr> {
        let path = self
            .real(ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let meta = std::fs::symlink_metadata(path)?;
        let kind = if meta.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        };
        let size = if meta.is_dir() {
            meta.len()
        } else {
            self.length(ino, meta.len())
        };
        let time = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
        Ok(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime()),
            mtime: time(meta.mtime()),
            ctime: time(meta.ctime()),
            crtime: time(meta.ctime()),
            kind,
            perm: (meta.permissions().mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn entry_of(&mut self, path: &Path, reply: ReplyEntry) {
        let ino = self.inode(path);
        match self.attr(ino) {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => {
                self.forget_path(path);
                reply.error(errno(&e));
            }
        }
    }

    /// Bytes `offset..offset + size` of `ino` as its writer sees them.
    fn read_at(&self, ino: u64, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        let path = self
            .real(ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let file = File::open(path)?;
        let base = file.metadata()?.len();
        let mut buf = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            match file.read_at(&mut buf[filled..], offset + filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        let end = offset + size as u64;
        let mut len = base;
        for op in self.unsynced.get(&ino).into_iter().flatten() {
            match op {
                Op::SetLen(n) => {
                    // Bytes beyond a shortened length read as zeros if it grows again.
                    if *n < end {
                        let from = n.saturating_sub(offset) as usize;
                        buf[from..].fill(0);
                    }
                    len = *n;
                }
                Op::Write(at, data) => {
                    let (start, stop) = (*at.max(&offset), (at + data.len() as u64).min(end));
                    if start < stop {
                        buf[(start - offset) as usize..(stop - offset) as usize]
                            .copy_from_slice(&data[(start - at) as usize..(stop - at) as usize]);
                    }
                    len = len.max(at + data.len() as u64);
                }
            }
        }
        buf.truncate(len.saturating_sub(offset).min(size as u64) as usize);
        Ok(buf)
    }

    /// Removes `name` under `parent` from the backing directory with `remove`, and forgets
    /// it (and what it had not synced).
    fn remove(
        &mut self,
        parent: u64,
        name: &OsStr,
        reply: ReplyEmpty,
        remove: impl FnOnce(&Path) -> io::Result<()>,
    ) {
        let Some(path) = self.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        match remove(&self.backing.join(&path)) {
            Ok(()) => {
                self.forget_path(&path);
                reply.ok();
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// Writes `ino`'s unsynced changes to the backing file and syncs it.
    fn sync(&mut self, ino: u64, data_only: bool) -> io::Result<()> {
        let path = self
            .real(ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let file = OpenOptions::new().write(true).open(path)?;
        for op in self.unsynced.remove(&ino).unwrap_or_default() {
            match op {
                Op::SetLen(n) => file.set_len(n)?,
                Op::Write(at, data) => file.write_all_at(&data, at)?,
            }
        }
        if data_only {
            file.sync_data()
        } else {
            file.sync_all()
        }
    }
}

impl Filesystem for Lazy {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let Some(path) = self.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        if std::fs::symlink_metadata(self.backing.join(&path)).is_err() {
            return reply.error(libc::ENOENT);
        }
        self.entry_of(&path, reply);
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.attr(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let Some(path) = self.real(ino) else {
            return reply.error(libc::ENOENT);
        };
        if let Some(mode) = mode {
            let permissions = std::fs::Permissions::from_mode(mode & 0o7777);
            if let Err(e) = std::fs::set_permissions(&path, permissions) {
                return reply.error(errno(&e));
            }
        }
        if let Some(size) = size {
            self.unsynced.entry(ino).or_default().push(Op::SetLen(size));
        }
        match self.attr(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let Some(path) = self.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        let made = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.backing.join(&path))
            .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777)));
        match made {
            Ok(()) => self.entry_of(&path, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let Some(path) = self.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        match std::fs::create_dir(self.backing.join(&path)) {
            Ok(()) => self.entry_of(&path, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, reply, |path| std::fs::remove_file(path));
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, reply, |path| std::fs::remove_dir(path));
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        _flags: u32,
        reply: ReplyEmpty,
    ) {
        let (Some(from), Some(to)) = (self.child(parent, name), self.child(newparent, newname))
        else {
            return reply.error(libc::ENOENT);
        };
        if let Err(e) = std::fs::rename(self.backing.join(&from), self.backing.join(&to)) {
            return reply.error(errno(&e));
        }
        // What was at the target is gone; what was under the source moves.
        self.forget_path(&to);
        let moved: Vec<(u64, PathBuf)> = self
            .paths
            .iter()
            .filter(|(_, p)| p.starts_with(&from))
            .map(|(ino, p)| (*ino, to.join(p.strip_prefix(&from).expect("under it"))))
            .collect();
        for (ino, path) in moved {
            if let Some(old) = self.paths.insert(ino, path.clone()) {
                self.inodes.remove(&old);
            }
            self.inodes.insert(path, ino);
        }
        reply.ok();
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.attr(ino) {
            Ok(_) => reply.opened(0, 0),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        match self.read_at(ino, offset.max(0) as u64, size as usize) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let at = offset.max(0) as u64;
        let ops = self.unsynced.entry(ino).or_default();
        // An append to the last write extends it.
        match ops.last_mut() {
            Some(Op::Write(last, bytes)) if *last + bytes.len() as u64 == at => {
                bytes.extend_from_slice(data)
            }
            _ => ops.push(Op::Write(at, data.to_vec())),
        }
        reply.written(data.len() as u32);
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _owner: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, datasync: bool, reply: ReplyEmpty) {
        match self.sync(ino, datasync) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.attr(ino) {
            Ok(_) => reply.opened(0, 0),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let (Some(dir), Some(real)) = (self.paths.get(&ino).cloned(), self.real(ino)) else {
            return reply.error(libc::ENOENT);
        };
        let listing = match std::fs::read_dir(&real) {
            Ok(listing) => listing,
            Err(e) => return reply.error(errno(&e)),
        };
        let mut entries = vec![
            (ino, FileType::Directory, ".".into()),
            (ino, FileType::Directory, "..".into()),
        ];
        let mut names: Vec<(std::ffi::OsString, bool)> = listing
            .flatten()
            .map(|e| (e.file_name(), e.file_type().is_ok_and(|t| t.is_dir())))
            .collect();
        names.sort();
        for (name, is_dir) in names {
            let child = self.inode(&dir.join(&name));
            let kind = if is_dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            entries.push((child, kind, name));
        }
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(child, (i + 1) as i64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _data: bool, reply: ReplyEmpty) {
        match self.real(ino).map(File::open) {
            Some(Ok(dir)) => match dir.sync_all() {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            },
            Some(Err(e)) => reply.error(errno(&e)),
            None => reply.error(libc::ENOENT),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let path = std::ffi::CString::new(self.backing.as_os_str().as_encoded_bytes())
            .expect("a path without NUL");
        // SAFETY: `statvfs` writes only into `stats`, a plain struct we own.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a NUL-terminated string and `stats` is valid for writes.
        if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
            return reply.error(errno(&io::Error::last_os_error()));
        }
        reply.statfs(
            stats.f_blocks,
            stats.f_bfree,
            stats.f_bavail,
            stats.f_files,
            stats.f_ffree,
            stats.f_bsize as u32,
            stats.f_namemax as u32,
            stats.f_frsize as u32,
        );
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let Some(path) = self.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        let real = self.backing.join(&path);
        let existed = real.exists();
        let made = OpenOptions::new()
            .write(true)
            .create(true)
            // A truncation is a change like any other: it waits for a sync (below).
            .truncate(false)
            .create_new(flags & libc::O_EXCL != 0)
            .open(&real)
            .and_then(|f| {
                if !existed {
                    f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
                }
                Ok(())
            });
        if let Err(e) = made {
            return reply.error(errno(&e));
        }
        let ino = self.inode(&path);
        if existed && flags & libc::O_TRUNC != 0 {
            self.unsynced.entry(ino).or_default().push(Op::SetLen(0));
        }
        match self.attr(ino) {
            Ok(attr) => reply.created(&TTL, &attr, 0, 0, 0),
            Err(e) => reply.error(errno(&e)),
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [backing, mountpoint] = args.as_slice() else {
        eprintln!("usage: xinbao-lazyfs BACKING MOUNTPOINT");
        return std::process::ExitCode::from(2);
    };
    let backing = match backing.canonicalize() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("xinbao-lazyfs: {}: {e}", backing.display());
            return std::process::ExitCode::from(2);
        }
    };
    let options = [MountOption::FSName("xinbao-lazyfs".into()), MountOption::RW];
    eprintln!(
        "xinbao-lazyfs: {} on {}: unsynced writes are kept in memory and lost when this process stops",
        backing.display(),
        mountpoint.display()
    );
    match fuser::mount2(Lazy::new(backing), mountpoint, &options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xinbao-lazyfs: mounting {}: {e}", mountpoint.display());
            std::process::ExitCode::FAILURE
        }
    }
}
