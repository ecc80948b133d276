//! Any bytes as a trace file: the reader must return records or an error naming an offset,
//! and blkparse's printing of whatever it read must not panic.
#![no_main]

use blkscope::blktrace::RecordReader;
use blkscope::tools::parse::engine::DevInfo;
use blkscope::tools::parse::engine::Engine;
use blkscope::tools::parse::options::BlkparseOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = BlkparseOptions {
        track_ios: true,
        per_process_stats: true,
        ..Default::default()
    };
    let mut engine = Engine::new(&options);
    engine.devices.push(DevInfo::named(Some("fuzz".into()), 0));
    let mut reader = RecordReader::new(data, "fuzz");
    let mut end = 0;
    while let Ok(Some(t)) = reader.next_trace() {
        assert!(reader.offset() as usize <= data.len());
        assert!(reader.offset() > end);
        end = reader.offset();
        if t.header.is_notify() && !t.header.is_message() {
            engine.handle_notify(&t);
        } else {
            let _ = engine.dump_trace(&t, 0, t.header.cpu % 64);
        }
        engine.out.clear();
    }
});
