//! Any bytes from a client of the exporter: its HTTP front (hyper with the exporter's
//! deadlines, the router, basic auth, content negotiation) must answer with an HTTP response or
//! close the connection, within its deadlines, and never panic.
#![no_main]

use std::{
    collections::BTreeMap,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use blkscope::tools::exporter::{
    collect::Totals,
    server::{Limits, Shared, router, serve_connection},
    web::BasicAuthUsers,
};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

/// `alice:s3cret`, bcrypt at the lowest cost (a real hash: the verifier runs on every try).
static ALICE: LazyLock<String> =
    LazyLock::new(|| bcrypt::hash("s3cret", 4).expect("hashing a password"));

const LIMITS: Limits = Limits {
    max_connections: 4,
    header_timeout: Duration::from_millis(200),
    request_timeout: Duration::from_secs(2),
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the server's settings: with or without basic auth, with or without
    // a scrape limit.
    let Some((&settings, request)) = data.split_first() else {
        return;
    };
    let users = if settings & 1 == 1 {
        BTreeMap::from([("alice".to_owned(), ALICE.clone())])
    } else {
        BTreeMap::new()
    };
    let shared = Shared {
        collector: None,
        totals: Arc::new(Mutex::new(Totals::new(8))),
        stale_after: Duration::from_secs(5),
        scrapes: (settings & 2 == 2).then(|| Arc::new(tokio::sync::Semaphore::new(1))),
        users: Arc::new(BasicAuthUsers::new(users)),
    };
    let app = router(shared);
    RUNTIME.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(serve_connection(server, app, LIMITS, Arc::default()));
        // The server may close before taking everything: a write error is an answer too.
        let _ = client.write_all(request).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer));
        assert!(read.await.is_ok(), "the server neither answered nor closed");
        assert!(
            answer.is_empty()
                || answer.starts_with(b"HTTP/1.1 ")
                || answer.starts_with(b"HTTP/1.0 "),
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
        let ended = tokio::time::timeout(Duration::from_secs(10), served).await;
        assert!(
            matches!(ended, Ok(Ok(()))),
            "the connection task did not end cleanly"
        );
    });
});
