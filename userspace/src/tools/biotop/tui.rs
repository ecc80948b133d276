//! biotop's live terminal UI (ratatui): totals per interval in a header, bcc's columns in a
//! table, keys like top's. The terminal is restored on every way out: return, error, signal,
//! panic (ratatui's panic hook) and drop.

use std::time::{Duration, Instant};

use crate::run::stop::Stop;
use ratatui::{
    Frame,
    crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers},
    layout::{Constraint, Layout},
    style::{Modifier, Style},
    text::Line,
    widgets::{Cell, Paragraph, Row, Table},
};

use super::rows::{Grouping, SortKey, TopRow, Totals, filter, group, sort};

/// Everything the screen shows, and what the keys change.
#[derive(Clone, Debug)]
pub struct TuiState {
    pub grouping: Grouping,
    pub sort: SortKey,
    pub reverse: bool,
    pub paused: bool,
    pub filter: String,
    /// The filter being typed after `/`, until Enter or Esc.
    pub editing: Option<String>,
    pub interval: Duration,
    /// The last interval's rows (process level: grouping is applied when drawing).
    pub rows: Vec<TopRow>,
    pub drops: u64,
    pub clock: String,
}

impl TuiState {
    pub fn new(grouping: Grouping, sort: SortKey, interval: Duration) -> Self {
        Self {
            grouping,
            sort,
            reverse: false,
            paused: false,
            filter: String::new(),
            editing: None,
            interval,
            rows: Vec::new(),
            drops: 0,
            clock: String::new(),
        }
    }

    /// Applies a key; `false` when it means quit.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        if let Some(text) = self.editing.as_mut() {
            match key.code {
                KeyCode::Enter => self.filter = self.editing.take().unwrap_or_default(),
                KeyCode::Esc => self.editing = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            }
            return true;
        }
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        match key.code {
            _ if ctrl_c => return false,
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => return false,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('r') => self.reverse = !self.reverse,
            KeyCode::Char(' ') | KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('g') => self.grouping = self.grouping.next(),
            KeyCode::Char('/') => self.editing = Some(self.filter.clone()),
            KeyCode::Char('+') => self.interval += Duration::from_secs(1),
            KeyCode::Char('-') if self.interval > Duration::from_secs(1) => {
                self.interval -= Duration::from_secs(1);
            }
            _ => {}
        }
        true
    }

    /// The rows as shown: grouped, filtered, sorted.
    pub fn visible_rows(&self) -> Vec<TopRow> {
        let mut rows = filter(group(&self.rows, self.grouping), &self.filter);
        sort(&mut rows, self.sort, self.reverse);
        rows
    }
}

/// Runs the UI until a quit key or `stop`. `refresh` is called once per interval and returns
/// that interval's rows and the drop count.
pub fn run(
    state: &mut TuiState,
    stop: &Stop,
    refresh: &mut dyn FnMut() -> anyhow::Result<(Vec<TopRow>, u64)>,
    clock: &dyn Fn() -> String,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::init();
    let _restore = RestoreTerminal;
    let mut next_refresh = Instant::now() + state.interval;
    state.clock = clock();
    loop {
        terminal.draw(|frame| draw(frame, state))?;
        let wait = next_refresh
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(key) if key.kind == KeyEventKind::Press => {
                    if !state.on_key(key) {
                        return Ok(());
                    }
                }
                // The next draw uses the new size.
                Event::Resize(..) => terminal.autoresize()?,
                _ => {}
            }
        }
        if stop.is_set() {
            return Ok(());
        }
        if Instant::now() >= next_refresh {
            let (rows, drops) = refresh()?;
            if !state.paused {
                state.rows = rows;
                state.drops = drops;
                state.clock = clock();
            }
            next_refresh = Instant::now() + state.interval;
        }
    }
}

/// Restores the terminal when dropped, whatever the way out.
struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn draw(frame: &mut Frame<'_>, state: &TuiState) {
    let [header, table, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let rows = state.visible_rows();
    frame.render_widget(Paragraph::new(header_lines(state, &rows)), header);
    frame.render_widget(rows_table(state, &rows), table);
    let help = match &state.editing {
        Some(text) => {
            format!("filter (comm, container or disk): {text}_   Enter apply  Esc cancel")
        }
        None => {
            "q quit  s sort  r reverse  space pause  g group  / filter  +/- interval".to_owned()
        }
    };
    frame.render_widget(
        Paragraph::new(help).style(Style::new().add_modifier(Modifier::REVERSED)),
        footer,
    );
}

fn header_lines(state: &TuiState, rows: &[TopRow]) -> Vec<Line<'static>> {
    let totals = Totals::of(&state.rows);
    let seconds = state.interval.as_secs_f64().max(1e-3);
    let arrow = if state.reverse { "^" } else { "v" };
    let mut first = format!(
        "blkscope biotop  {}  interval {}s  group: {}  sort: {}{}  rows: {}",
        state.clock,
        state.interval.as_secs(),
        state.grouping.name(),
        state.sort.name(),
        arrow,
        rows.len()
    );
    if !state.filter.is_empty() {
        first.push_str(&format!("  filter: {}", state.filter));
    }
    if state.paused {
        first.push_str("  [paused]");
    }
    let second = format!(
        "IOPS {:.0}   read {:.1} KB/s   write {:.1} KB/s   avg {:.2} ms   drops {}",
        totals.ios as f64 / seconds,
        totals.read_bytes as f64 / 1024.0 / seconds,
        totals.write_bytes as f64 / 1024.0 / seconds,
        totals.avg_ms(),
        state.drops
    );
    vec![Line::from(first), Line::from(second)]
}

/// A column: its title and width.
type Column = (&'static str, u16);

/// The columns every grouping shows, after its own.
const COMMON_COLUMNS: [Column; 7] = [
    ("D", 1),
    ("MAJ", 3),
    ("MIN", 3),
    ("DISK", 8),
    ("I/O", 7),
    ("Kbytes", 9),
    ("AVGms", 7),
];

/// `(title, width)` of each column of a grouping, in order (as `cells` fills them).
fn columns(grouping: Grouping) -> Vec<Column> {
    let (lead, tail): (&[Column], &[Column]) = match grouping {
        Grouping::Process => (&[("PID", 7), ("COMM", 16)], &[("CONTAINER", 40)]),
        Grouping::Container => (&[("CONTAINER", 40)], &[]),
        Grouping::Disk => (&[], &[]),
        Grouping::File => (&[("FILE", 48)], &[]),
        Grouping::ContainerFile => (&[("CONTAINER", 24), ("FILE", 40)], &[]),
    };
    lead.iter()
        .chain(COMMON_COLUMNS.iter())
        .chain(tail)
        .copied()
        .collect()
}

fn rows_table(state: &TuiState, rows: &[TopRow]) -> Table<'static> {
    let (titles, widths): (Vec<&str>, Vec<Constraint>) = columns(state.grouping)
        .into_iter()
        .map(|(title, width)| (title, Constraint::Length(width)))
        .unzip();
    let body: Vec<Row<'static>> = rows
        .iter()
        .map(|r| Row::new(cells(state.grouping, r)))
        .collect();
    Table::new(body, widths).header(
        Row::new(titles.into_iter().map(Cell::from))
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
}

fn cells(grouping: Grouping, row: &TopRow) -> Vec<Cell<'static>> {
    let common = [
        (if row.write { "W" } else { "R" }).to_owned(),
        row.device.major.to_string(),
        row.device.minor.to_string(),
        row.disk.clone(),
        row.ios.to_string(),
        (row.bytes / 1024).to_string(),
        format!("{:.2}", row.avg_ms()),
    ];
    let mut values: Vec<String> = match grouping {
        Grouping::Process => vec![row.pid.to_string(), row.comm.clone()],
        Grouping::Container => vec![row.container.clone()],
        Grouping::Disk => vec![],
        Grouping::File => vec![row.file.clone()],
        Grouping::ContainerFile => vec![row.container.clone(), row.file.clone()],
    };
    values.extend(common);
    if grouping == Grouping::Process {
        values.push(row.container.clone());
    }
    values.into_iter().map(Cell::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::DeviceId;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_change_the_view() {
        let mut state = TuiState::new(Grouping::Process, SortKey::Kbytes, Duration::from_secs(1));
        assert!(state.on_key(key(KeyCode::Char('s'))));
        assert_eq!(state.sort, SortKey::Io);
        state.on_key(key(KeyCode::Char('r')));
        assert!(state.reverse);
        state.on_key(key(KeyCode::Char('g')));
        assert_eq!(state.grouping, Grouping::Container);
        state.on_key(key(KeyCode::Char(' ')));
        assert!(state.paused);
        state.on_key(key(KeyCode::Char('+')));
        state.on_key(key(KeyCode::Char('+')));
        state.on_key(key(KeyCode::Char('-')));
        assert_eq!(state.interval, Duration::from_secs(2));
        for c in ['/', 'd', 'x', 'd'] {
            state.on_key(key(KeyCode::Char(c)));
        }
        state.on_key(key(KeyCode::Backspace));
        // 'q' while typing is text, not quit.
        assert!(state.on_key(key(KeyCode::Char('q'))));
        state.on_key(key(KeyCode::Enter));
        assert_eq!(state.filter, "dxq");
        assert!(!state.on_key(key(KeyCode::Char('q'))));
        assert!(!state.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    }

    #[test]
    fn visible_rows_are_grouped_filtered_and_sorted() {
        let row = |pid, comm: &str, bytes| TopRow {
            pid,
            comm: comm.into(),
            container: "docker:a".into(),
            file: "/data/a".into(),
            write: false,
            device: DeviceId::new(7, 0),
            disk: "loop0".into(),
            ios: 1,
            bytes,
            latency_ns: 1000,
        };
        let mut state = TuiState::new(Grouping::Process, SortKey::Kbytes, Duration::from_secs(1));
        state.rows = vec![row(1, "small", 10), row(2, "big", 1000)];
        assert_eq!(state.visible_rows()[0].comm, "big");
        state.filter = "small".into();
        assert_eq!(state.visible_rows().len(), 1);
        state.filter.clear();
        state.grouping = Grouping::Container;
        assert_eq!(state.visible_rows().len(), 1);
        assert_eq!(state.visible_rows()[0].bytes, 1010);
    }
}
