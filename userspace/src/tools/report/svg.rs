//! The charts, drawn as inline SVG: no script and no external file is needed to see them.
//! Colours are colour-blind safe: Okabe and Ito's palette for categories (reads, writes,
//! stages), viridis for counts.

use std::fmt::Write as _;

use super::bins::{Heatmap, Latencies, Offsets, Stages, Throughput, TimeBins, bucket_range_us};
use super::collect::Direction;

/// Okabe-Ito: blue, vermillion, bluish green, orange, reddish purple, sky blue.
pub const CATEGORY: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9",
];
/// Viridis in nine steps, dark (few) to light (many).
const VIRIDIS: [&str; 9] = [
    "#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30",
    "#fde725",
];

const WIDTH: f64 = 900.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 44.0;

/// The colour of a direction in every chart.
pub fn direction_colour(d: Direction) -> &'static str {
    match d {
        Direction::Read => CATEGORY[0],
        Direction::Write => CATEGORY[1],
        Direction::Other => CATEGORY[2],
    }
}

/// Text safe inside SVG and HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as short as it reads well: `12`, `3.5`, `0.125`.
pub fn number(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Microseconds as a latency label: `512 µs`, `2 ms`, `1.5 s`.
pub fn micros_label(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{} s", number(us / 1_000_000.0))
    } else if us >= 1_000.0 {
        format!("{} ms", number(us / 1_000.0))
    } else {
        format!("{} µs", number(us))
    }
}

/// A round step for about `ticks` ticks up to `max`: 1, 2 or 5 times a power of ten.
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / ticks;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * magnitude >= raw)
        .unwrap_or(10.0);
    step * magnitude
}

/// An SVG document being written, with its plot area.
struct Canvas {
    out: String,
    height: f64,
}

impl Canvas {
    fn new(height: f64, label: &str) -> Canvas {
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
             width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{}\" \
             font-family=\"sans-serif\" font-size=\"12\">",
            escape(label)
        );
        Canvas { out, height }
    }

    fn plot_width(&self) -> f64 {
        WIDTH - LEFT - RIGHT
    }

    fn plot_height(&self) -> f64 {
        self.height - TOP - BOTTOM
    }

    fn bottom(&self) -> f64 {
        self.height - BOTTOM
    }

    /// A rectangle with extra attributes, and a tooltip when `title` is given.
    #[allow(clippy::too_many_arguments)]
    fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        extra: &str,
        title: Option<&str>,
    ) {
        let _ = write!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\"{extra}"
        );
        match title {
            Some(t) => {
                let _ = write!(self.out, "><title>{}</title></rect>", escape(t));
            }
            None => self.out.push_str("/>"),
        }
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" fill=\"#222\">{}</text>",
            escape(text)
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\"/>"
        );
    }

    /// The plot area's frame, and the x axis in seconds from time zero.
    fn time_axis(&mut self, bins: &TimeBins) {
        self.frame();
        let span_s = bins.span_us() as f64 / 1e6;
        let step = nice_step(span_s, 8.0);
        let mut t = 0.0;
        while t <= span_s + 1e-9 {
            let x = LEFT + t / span_s * self.plot_width();
            let bottom = self.bottom();
            self.line(x, bottom, x, bottom + 4.0, "#444");
            self.text(x, bottom + 16.0, "middle", &number(t));
            t += step;
        }
        let (x, y) = (LEFT + self.plot_width() / 2.0, self.height - 8.0);
        self.text(x, y, "middle", "time (s)");
    }

    fn frame(&mut self) {
        let (w, h) = (self.plot_width(), self.plot_height());
        let _ = write!(
            self.out,
            "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#fafafa\" \
             stroke=\"#888\"/>"
        );
    }

    /// A linear y axis from 0 to `max` with its label (rotated, on the left).
    fn value_axis(&mut self, max: f64, label: &str) {
        let step = nice_step(max, 5.0);
        let mut v = 0.0;
        while v <= max + 1e-9 {
            let y = self.bottom() - v / max * self.plot_height();
            self.line(LEFT - 4.0, y, LEFT, y, "#444");
            self.text(LEFT - 6.0, y + 4.0, "end", &number(v));
            v += step;
        }
        self.y_label(label);
    }

    fn y_label(&mut self, label: &str) {
        let y = TOP + self.plot_height() / 2.0;
        let _ = write!(
            self.out,
            "<text transform=\"translate(14 {y:.1}) rotate(-90)\" text-anchor=\"middle\" \
             fill=\"#222\">{}</text>",
            escape(label)
        );
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// The viridis colour of `count` on a log scale up to `max`.
fn count_colour(count: u64, max: u64) -> &'static str {
    if max <= 1 {
        return VIRIDIS[VIRIDIS.len() - 1];
    }
    let level = (count as f64).ln() / (max as f64).ln();
    VIRIDIS[((level * (VIRIDIS.len() - 1) as f64).round() as usize).min(VIRIDIS.len() - 1)]
}

/// Time across, log2 latency up, colour the I/Os of each cell. Every cell carries its bounds
/// and count (`data-*`) and a tooltip.
pub fn heatmap(heat: &Heatmap, bins: &TimeBins) -> String {
    let mut c = Canvas::new(320.0, "latency heatmap");
    c.time_axis(bins);
    let Some((low, high)) = heat.bucket_span() else {
        return c.finish();
    };
    let rows = f64::from(high - low + 1);
    let (cell_w, cell_h) = (c.plot_width() / bins.columns as f64, c.plot_height() / rows);
    for b in low..=high {
        let y = c.bottom() - f64::from(b - low + 1) * cell_h;
        let (lo, _) = bucket_range_us(b);
        c.line(LEFT - 4.0, y + cell_h, LEFT, y + cell_h, "#444");
        if rows <= 16.0 || (b - low) % 2 == 0 {
            c.text(
                LEFT - 6.0,
                y + cell_h + 4.0,
                "end",
                &micros_label(lo as f64),
            );
        }
    }
    c.y_label("latency (issue to completion)");
    let max = heat.max_count();
    for (&(column, bucket), &count) in &heat.cells {
        let x = LEFT + column as f64 * cell_w;
        let y = c.bottom() - f64::from(bucket - low + 1) * cell_h;
        let (lo, hi) = bucket_range_us(bucket);
        let t0 = bins.start_us(column);
        let t1 = t0 + bins.width_us - 1;
        let extra = format!(
            " class=\"cell\" data-count=\"{count}\" data-t-us=\"{t0}-{t1}\" \
             data-latency-us=\"{lo}-{hi}\""
        );
        let title = format!(
            "{count} I/Os, {}-{} s, {} to {}",
            number(t0 as f64 / 1e6),
            number((t1 + 1) as f64 / 1e6),
            micros_label(lo as f64),
            micros_label(hi as f64 + 1.0)
        );
        let fill = count_colour(count, max);
        c.rect(x, y, cell_w.max(1.0), cell_h, fill, &extra, Some(&title));
    }
    c.finish()
}

/// The heatmap's colour key.
pub fn heatmap_key(max: u64) -> String {
    let mut out = String::from("<span class=\"key\">I/Os per cell: ");
    // Counts at even steps of the log scale the colours follow: 1, max^¼, max^½, max^¾, max.
    let steps =
        [0.0, 0.25, 0.5, 0.75, 1.0].map(|q: f64| (max.max(1) as f64).powf(q).round() as u64);
    let mut last = 0;
    for n in steps {
        if n > last {
            let _ = write!(
                out,
                "<i style=\"background:{}\"></i>{n} ",
                count_colour(n, max)
            );
            last = n;
        }
    }
    out.push_str("</span>");
    out
}

/// Where on the disk the I/Os went, over time: a cell per (time, sector range, direction),
/// drawn as one path per direction (a random workload fills thousands of cells: a path keeps
/// the page small where rectangles with tooltips made it megabytes).
pub fn offsets(o: &Offsets, bins: &TimeBins) -> String {
    let mut c = Canvas::new(300.0, "sector offsets over time");
    c.time_axis(bins);
    let gib = (o.rows * o.row_sectors) as f64 * 512.0 / f64::from(1u32 << 30);
    c.value_axis(gib, "offset (GiB)");
    let (column_w, row_h) = (
        c.plot_width() / bins.columns as f64,
        c.plot_height() / o.rows as f64,
    );
    // A cell is drawn at least 1.5 px wide and high, so that a lone I/O stays visible.
    let (cell_w, cell_h) = (column_w.max(1.5), row_h.max(1.5));
    for direction in [Direction::Read, Direction::Write, Direction::Other] {
        let mut path = String::new();
        for &(column, row, d) in o.cells.keys() {
            if d == direction {
                let x = LEFT + column as f64 * column_w;
                let y = c.bottom() - (row + 1) as f64 * row_h;
                let _ = write!(path, "M{x:.1} {y:.1}h{cell_w:.1}v{cell_h:.1}h-{cell_w:.1}z");
            }
        }
        if !path.is_empty() {
            let _ = write!(
                c.out,
                "<path class=\"offsets\" data-direction=\"{}\" fill=\"{}\" fill-opacity=\"0.75\" d=\"{path}\"/>",
                direction.label(),
                direction_colour(direction)
            );
        }
    }
    c.finish()
}

/// A time series as a step line, one value per column.
pub fn series(values: &[f64], bins: &TimeBins, label: &str, colour: &str) -> String {
    let mut c = Canvas::new(220.0, label);
    c.time_axis(bins);
    let max = values.iter().copied().fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.05 } else { 1.0 };
    c.value_axis(top, label);
    let cell_w = c.plot_width() / bins.columns as f64;
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        let y = c.bottom() - v / top * c.plot_height();
        let x0 = LEFT + i as f64 * cell_w;
        let _ = write!(points, "{x0:.1},{y:.1} {:.1},{y:.1} ", x0 + cell_w);
    }
    let _ = write!(
        c.out,
        "<polyline class=\"series\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{points}\"/>"
    );
    c.finish()
}

/// IOPS per column.
pub fn iops(t: &Throughput, bins: &TimeBins) -> String {
    let seconds = bins.width_us as f64 / 1e6;
    let values: Vec<f64> = t.ios.iter().map(|&n| n as f64 / seconds).collect();
    series(&values, bins, "IOPS", CATEGORY[0])
}

/// MiB/s per column.
pub fn throughput(t: &Throughput, bins: &TimeBins) -> String {
    let seconds = bins.width_us as f64 / 1e6;
    let values: Vec<f64> = t
        .bytes
        .iter()
        .map(|&b| b as f64 / f64::from(1u32 << 20) / seconds)
        .collect();
    series(&values, bins, "MiB/s", CATEGORY[2])
}

/// Mean I/Os in flight per column.
pub fn depth(t: &Throughput, bins: &TimeBins) -> String {
    series(&t.depth, bins, "I/Os in flight (mean)", CATEGORY[3])
}

/// btt's stage averages as bars, with their values.
pub fn stages(s: &Stages) -> String {
    let mut c = Canvas::new(60.0 + 34.0 * s.stages.len() as f64, "Q2G G2I I2D D2C");
    let max = s.stages.iter().map(|(_, m, _)| *m).fold(0.0, f64::max);
    let label_w = 60.0;
    let width = c.plot_width() - label_w - 120.0;
    for (i, (name, mean, n)) in s.stages.iter().enumerate() {
        let y = TOP + 8.0 + 34.0 * i as f64;
        c.text(LEFT + label_w - 8.0, y + 16.0, "end", name);
        let w = if max > 0.0 { mean / max * width } else { 0.0 };
        let extra = format!(" class=\"stage\" data-stage=\"{name}\" data-mean-ns=\"{mean:.0}\"");
        let fill = CATEGORY[i % CATEGORY.len()];
        c.rect(LEFT + label_w, y, w.max(1.0), 22.0, fill, &extra, None);
        let value = if *n == 0 {
            "not seen".to_owned()
        } else {
            format!("{} ({n} I/Os)", micros_label(mean / 1000.0))
        };
        c.text(LEFT + label_w + w + 8.0, y + 16.0, "start", &value);
    }
    c.finish()
}

/// The latency histogram, a bar per bucket, with the percentiles under it.
pub fn histogram(l: &Latencies) -> String {
    let mut c = Canvas::new(260.0, "latency histogram");
    c.frame();
    let (Some((&low, _)), Some((&high, _))) =
        (l.buckets.first_key_value(), l.buckets.last_key_value())
    else {
        return c.finish();
    };
    let max = l.buckets.values().copied().max().unwrap_or(1) as f64 * 1.05;
    c.value_axis(max, "I/Os");
    let n = f64::from(high - low + 1);
    let bar_w = c.plot_width() / n;
    for b in low..=high {
        let count = l.buckets.get(&b).copied().unwrap_or(0);
        let x = LEFT + f64::from(b - low) * bar_w;
        let h = count as f64 / max * c.plot_height();
        let (lo, hi) = bucket_range_us(b);
        let extra = format!(" class=\"bar\" data-count=\"{count}\"");
        let title = format!(
            "{count} I/Os, {} to {}",
            micros_label(lo as f64),
            micros_label(hi as f64 + 1.0)
        );
        let (y, w) = (c.bottom() - h, (bar_w - 2.0).max(1.0));
        c.rect(x + 1.0, y, w, h, CATEGORY[0], &extra, Some(&title));
        if n <= 16.0 || (b - low) % 2 == 0 {
            let bottom = c.bottom();
            c.text(
                x + bar_w / 2.0,
                bottom + 16.0,
                "middle",
                &micros_label(lo as f64),
            );
        }
    }
    let (x, y) = (LEFT + c.plot_width() / 2.0, c.height - 8.0);
    c.text(
        x,
        y,
        "middle",
        "latency (issue to completion), log2 buckets",
    );
    c.finish()
}

/// Horizontal bars of bytes, largest first.
pub fn bytes_bars(rows: &[(String, u64)], label: &str) -> String {
    let mut c = Canvas::new(24.0 + 26.0 * rows.len().max(1) as f64, label);
    let max = rows.iter().map(|(_, b)| *b).max().unwrap_or(1).max(1) as f64;
    let label_w = 240.0;
    let width = WIDTH - label_w - 160.0;
    for (i, (name, bytes)) in rows.iter().enumerate() {
        let y = TOP + 26.0 * i as f64;
        let shown: String = name.chars().take(36).collect();
        c.text(label_w - 8.0, y + 14.0, "end", &shown);
        let w = *bytes as f64 / max * width;
        c.rect(
            label_w,
            y,
            w.max(1.0),
            18.0,
            CATEGORY[5],
            " class=\"bytes\"",
            None,
        );
        c.text(label_w + w + 8.0, y + 14.0, "start", &bytes_label(*bytes));
    }
    c.finish()
}

/// `12.5 MiB`.
pub fn bytes_label(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= f64::from(1u32 << 30) {
        format!("{} GiB", number(b / f64::from(1u32 << 30)))
    } else if b >= f64::from(1u32 << 20) {
        format!("{} MiB", number(b / f64::from(1u32 << 20)))
    } else if b >= 1024.0 {
        format!("{} KiB", number(b / 1024.0))
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(7.3, 8.0), 1.0);
        assert_eq!(nice_step(0.03, 5.0), 0.01);
        assert_eq!(nice_step(3500.0, 5.0), 1000.0);
    }

    #[test]
    fn labels() {
        assert_eq!(micros_label(512.0), "512 µs");
        assert_eq!(micros_label(2000.0), "2 ms");
        assert_eq!(micros_label(2048.0), "2.05 ms");
        assert_eq!(micros_label(1_500_000.0), "1.5 s");
        assert_eq!(bytes_label(4096), "4 KiB");
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
        assert_eq!(number(0.125), "0.125");
        assert_eq!(number(12.0), "12");
    }
}
