//! The pty of an interactive step: this process's terminal in raw mode,
//! its size copied, keystrokes and output forwarded.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios;

/// A pty pair whose two ends are close-on-exec from the start: no other
/// program this process starts meanwhile (a step's helper, slirp4netns)
/// may hold the slave open, or the master would never see the step end.
pub(crate) struct Pty {
    pub(crate) master: OwnedFd,
    pub(crate) slave: OwnedFd,
}

pub(crate) fn open_pty() -> nix::Result<Pty> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = nix::pty::ptsname_r(&master)?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let master = OwnedFd::from(master);
    Ok(Pty { master, slave })
}

/// Our terminal in raw mode until dropped (nothing when stdin is not one).
pub(crate) struct RawMode(Option<termios::Termios>);

impl RawMode {
    pub(crate) fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else { return RawMode(None) };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, saved);
        }
    }
}

/// Gives the pty our terminal's size.
#[allow(unsafe_code)]
pub(crate) fn copy_size(master: &OwnedFd) {
    // SAFETY: winsize is plain old data; TIOCGWINSZ fills it, TIOCSWINSZ
    // reads it; both on descriptors open for the call.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// The helper gets `tty` as descriptor 3 (the init makes it the step's).
#[allow(unsafe_code)]
pub(crate) fn pass_as_fd3(command: &mut std::process::Command, tty: &OwnedFd) {
    let fd = tty.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and calls
    // only fcntl and dup2, which are async-signal-safe.
    unsafe {
        command.pre_exec(move || crate::sys::place_fds(&[(fd, 3)]));
    }
}

/// What is typed here goes to the step, until `wake` closes.
pub(crate) fn forward_input(mut master: File, wake: OwnedFd) {
    let stdin = std::io::stdin();
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            return;
        }
        let woken = fds[1].revents().is_some_and(|r| !r.is_empty());
        let typed = fds[0].revents().is_some_and(|r| !r.is_empty());
        if woken {
            return;
        }
        if typed {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if master.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// What the step writes comes here, until its side closes.
pub(crate) fn forward_output(mut master: File) {
    let mut stdout = std::io::stdout();
    let mut buf = [0u8; 4096];
    // EIO once every descriptor of the slave is closed: the step is over.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 || stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()).is_err() {
            return;
        }
    }
}
