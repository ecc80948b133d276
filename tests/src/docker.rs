//! A real docker daemon for the tests: the one running, or Debian's docker.io started here as
//! these machines allow it (`--storage-driver=vfs --bridge=none --iptables=false`) and stopped
//! again on drop; and a busybox image imported from busybox-static (no registry needed).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The image the tests run: busybox-static's binary as the whole root.
pub const IMAGE: &str = "blkscope-busybox:test";

/// The daemon; stops it on drop when this guard started it.
pub struct DockerDaemon {
    started: Option<Child>,
}

impl DockerDaemon {
    /// A daemon that answers, started when none does. Fails (never skips) with what is
    /// missing when docker cannot run.
    pub fn ensure() -> DockerDaemon {
        if answers() {
            return DockerDaemon { started: None };
        }
        let log = std::fs::File::create("/tmp/blkscope-test-dockerd.log")
            .unwrap_or_else(|e| panic!("/tmp/blkscope-test-dockerd.log: {e}"));
        let child = Command::new("dockerd")
            .args(["--storage-driver=vfs", "--bridge=none", "--iptables=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting dockerd (Debian package docker.io; scripts/setup.sh installs it): {e}"
                )
            });
        let daemon = DockerDaemon {
            started: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s: see /tmp/blkscope-test-dockerd.log"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        daemon
    }

    /// Imports `IMAGE` from busybox-static when the daemon does not have it.
    pub fn busybox_image(&self) -> &'static str {
        if docker(&["image", "inspect", IMAGE]).status.success() {
            return IMAGE;
        }
        let root = busybox_root("docker-busybox", &["sh", "dd", "sleep", "cat"]);
        import_root(&root, IMAGE);
        IMAGE
    }

    /// An image whose root is busybox-static and the shared libraries `binary` loads (as
    /// `ldd` lists them): a stand-in for debian:bookworm-slim where no registry is reachable.
    pub fn runtime_image_for(&self, binary: &Path, tag: &str) -> String {
        let root = busybox_root("docker-runtime", &["sh"]);
        let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
        assert!(ldd.status.success(), "ldd {}", binary.display());
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let path = line
                .split_whitespace()
                .find(|word| word.starts_with('/'))
                .map(Path::new);
            if let Some(library) = path {
                let copy = root
                    .path()
                    .join(library.strip_prefix("/").expect("absolute"));
                std::fs::create_dir_all(copy.parent().expect("a directory")).expect("mkdir");
                std::fs::copy(library, &copy)
                    .unwrap_or_else(|e| panic!("copying {}: {e}", library.display()));
            }
        }
        import_root(&root, tag);
        tag.to_owned()
    }
}

/// A root holding busybox-static's binary as /bin/busybox, with links for `applets`.
fn busybox_root(tag: &str, applets: &[&str]) -> crate::Scratch {
    let root = crate::Scratch::new(tag);
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (Debian package busybox-static)");
    for applet in applets {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
    }
    root
}

/// `docker import` of a directory as image `tag`.
fn import_root(root: &crate::Scratch, tag: &str) {
    let script = format!(
        "tar -C {} -c . | docker import - {tag}",
        root.path().display()
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success(), "docker import of {tag} failed");
}

/// An image built for a test, removed on drop (vfs keeps a full copy of every layer).
pub struct BuiltImage {
    pub tag: String,
}

impl BuiltImage {
    /// `docker build ARGS CONTEXT -t TAG` with the classic builder (BuildKit would want
    /// buildx, which Debian's docker.io lacks); panics with the build's output when it fails.
    pub fn build(context: &Path, tag: &str, args: &[&str]) -> BuiltImage {
        let out = Command::new("docker")
            .arg("build")
            .args(args)
            .args(["-t", tag])
            .arg(context)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("docker build");
        let image = BuiltImage {
            tag: tag.to_owned(),
        };
        assert!(
            out.status.success(),
            "docker build {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        image
    }

    /// `docker image inspect -f FORMAT`.
    pub fn inspect(&self, format: &str) -> String {
        let out = docker(&["image", "inspect", "-f", format, &self.tag]);
        assert!(out.status.success(), "docker image inspect {}", self.tag);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for BuiltImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.tag]);
    }
}

/// `docker run -d --name NAME ARGS`: a container started with the options given, removed on
/// drop.
pub fn run_detached(name: &str, args: &[&str]) -> Container {
    let _ = docker(&["rm", "-f", name]);
    let mut all = vec!["run", "-d", "--name", name];
    all.extend(args);
    let out = docker(&all);
    assert!(
        out.status.success(),
        "docker run {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Container {
        name: name.to_owned(),
    }
}

/// `docker logs NAME`: what the container wrote on stdout and stderr.
pub fn logs(name: &str) -> String {
    let out = docker(&["logs", name]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Drop for DockerDaemon {
    fn drop(&mut self) {
        if let Some(child) = self.started.as_mut() {
            // SIGTERM: dockerd stops its containers and its own containerd.
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// A container run with `docker run`, removed on drop (also when the test fails).
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name NAME --device DEVICE IMAGE COMMAND...`: started, not waited for.
    pub fn start(name: &str, image: &str, device: &Path, command: &[&str]) -> Container {
        let device = device.to_str().expect("device path");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--device",
            device,
            image,
        ];
        args.extend(command);
        let out = docker(&args);
        assert!(
            out.status.success(),
            "docker run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            name: name.to_owned(),
        }
    }

    /// Waits for the container's command to end; its exit code.
    pub fn wait(&self) -> i32 {
        let out = docker(&["wait", &self.name]);
        assert!(out.status.success(), "docker wait {}", self.name);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("docker wait prints the exit code")
    }

    /// The full container id.
    pub fn id(&self) -> String {
        let out = docker(&["inspect", "-f", "{{.Id}}", &self.name]);
        assert!(out.status.success(), "docker inspect {}", self.name);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

fn answers() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}
