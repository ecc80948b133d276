//! Command lines: the GNU getopt grammar of the tools that do not parse with clap
//! (`getopt`), the conventions those tools follow by the name they were started under
//! (`caller`), and the arguments several clap tools share (`fs_scope`).

pub mod caller;
pub mod containers;
pub mod duration;
pub mod fs_scope;
pub mod getopt;
