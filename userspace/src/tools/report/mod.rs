//! `blkscope report`: a recording (or a live run) as one self-contained HTML page of SVG
//! charts per disk: a latency heatmap, sector offsets over time (iowatcher's view), IOPS and
//! MB/s, queue depth, btt's Q2G/G2I/I2D/D2C breakdown, the latency histogram with
//! percentiles, and the top processes and containers by bytes.
//!
//! `collect` gathers each completed I/O (the same I/Os `biosnoop -i` prints), `bins` turns them
//! into the charts' numbers, `svg` draws them, `page` lays out the HTML, `run` wires the feed.

pub mod args;
pub mod bins;
pub mod collect;
pub mod page;
pub mod run;
pub mod svg;

pub use args::ReportArgs;
pub use run::run;
