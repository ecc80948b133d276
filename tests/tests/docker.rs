//! Containers by name with a real docker daemon (Debian's docker.io 20.10, vfs storage, no
//! network): every I/O a named container does is shown under its name by biosnoop and biotop,
//! and `--container-name` keeps one container of two.

use std::{process::Child, time::Duration};

use blkscope_tests::{
    LoopDevice,
    docker::{Container, DockerDaemon},
    running::{json_lines, start_blkscope, stop_blkscope},
    serial,
};
use serde_json::Value;

fn start(args: &[&str]) -> Child {
    start_blkscope(args, &[])
}

fn stop(child: Child) -> Vec<Value> {
    json_lines(&stop_blkscope(child).stdout)
}

#[test]
fn docker_containers_are_named_in_biosnoop_and_biotop() {
    let _serial = serial();
    let daemon = DockerDaemon::ensure();
    let image = daemon.busybox_image();
    let disk = LoopDevice::new(64);
    let dev = disk.path_str();
    let pid = std::process::id();
    let (web, batch) = (
        format!("blkscope-web-{pid}"),
        format!("blkscope-batch-{pid}"),
    );
    let snoop = start(&["biosnoop", "-d", dev, "--containers", "--json"]);
    let only_web = start(&[
        "biosnoop",
        "-d",
        dev,
        "--container",
        "--container-name",
        &web,
        "--json",
    ]);
    let top = start(&[
        "biotop",
        "-d",
        dev,
        "--containers",
        "--json",
        "-r",
        "50",
        "1",
    ]);
    let read = |name: &str, count: u32, skip: u32| {
        let command =
            format!("dd if={dev} of=/dev/null bs=4096 count={count} skip={skip} iflag=direct");
        let container = Container::start(name, image, disk.path(), &["sh", "-c", &command]);
        assert_eq!(container.wait(), 0, "{command} in {name}");
        container
    };
    let web_container = read(&web, 300, 0);
    let batch_container = read(&batch, 120, 1000);
    let web_id = web_container.id();
    std::thread::sleep(Duration::from_millis(1200));
    let lines = stop(snoop);
    let only_web = stop(only_web);
    let intervals = stop(top);
    drop((web_container, batch_container));

    let of = |name: &str| {
        lines
            .iter()
            .filter(|l| l["container"] == name && l.get("summary").is_none())
            .count()
    };
    assert_eq!(of(&web), 300, "{lines:#?}");
    assert_eq!(of(&batch), 120);
    let web_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["container"] == web.as_str())
        .collect();
    assert!(
        web_lines
            .iter()
            .filter(|l| l.get("summary").is_none())
            .all(|l| l["container_id"] == format!("docker:{}", &web_id[..12]) && l["comm"] == "dd"),
        "the short id is in JSON"
    );
    assert_eq!(only_web.len(), 300, "--container-name keeps {web} only");
    assert!(only_web.iter().all(|l| l["container"] == web.as_str()));

    let ios = |name: &str| -> u64 {
        intervals
            .iter()
            .flat_map(|i| i["rows"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["container"] == name)
            .map(|r| r["ios"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(ios(&web), 300, "biotop: {intervals:#?}");
    assert_eq!(ios(&batch), 120);
}
