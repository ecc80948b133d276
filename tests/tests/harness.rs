//! The guards themselves: what a test makes is gone afterwards, also when the test panics.

use std::path::PathBuf;

use blkscope_tests::{Cgroup, Ext4Mount, LoopDevice, serial};

fn mounted(dir: &std::path::Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("/proc/self/mounts");
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == dir.to_str())
}

fn attached(device: &str) -> bool {
    let listing = blkscope_tests::sh("losetup", &["-a"]);
    listing
        .lines()
        .any(|l| l.starts_with(&format!("{device}:")))
}

#[test]
fn guards_tear_down_on_panic() {
    let _serial = serial();
    let made = std::sync::Mutex::new(None::<(String, PathBuf, PathBuf)>);
    let partition = std::sync::Mutex::new(None::<String>);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let disk = LoopDevice::new(32);
        let partitioned = LoopDevice::new(16);
        blkscope_tests::sh("addpart", &[partitioned.path_str(), "1", "2048", "4096"]);
        assert_eq!(partitioned.partitions(), vec![1]);
        *partition.lock().unwrap() = Some(format!("/sys/block/{0}/{0}p1", partitioned.name()));
        let fs = Ext4Mount::new(&disk);
        let cgroup = Cgroup::new("harness");
        std::fs::write(fs.dir().join("file"), b"data").expect("writing on the mount");
        assert!(mounted(fs.dir()));
        assert!(attached(disk.path_str()));
        *made.lock().unwrap() = Some((
            disk.path_str().to_owned(),
            fs.dir().to_owned(),
            PathBuf::from(cgroup.procs_path())
                .parent()
                .unwrap()
                .to_owned(),
        ));
        panic!("a failing test");
    }));
    assert!(outcome.is_err());
    let (device, mount_dir, cgroup_dir) = made.lock().unwrap().clone().expect("guards were made");
    assert!(
        !mounted(&mount_dir),
        "{} still mounted",
        mount_dir.display()
    );
    assert!(!mount_dir.exists(), "{} still exists", mount_dir.display());
    assert!(!attached(&device), "{device} still attached");
    assert!(
        !cgroup_dir.exists(),
        "{} still exists",
        cgroup_dir.display()
    );
}
