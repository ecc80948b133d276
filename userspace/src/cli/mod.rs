//! Command lines: the GNU getopt grammar of the tools that do not parse with clap
//! (`getopt`), and the arguments several clap tools share (`fs_scope`).

pub mod containers;
pub mod duration;
pub mod fs_scope;
pub mod getopt;
