//! Small BTF blobs built in tests: the types of a kernel other than the running one (Linux
//! 5.10's tracepoint prototypes, a struct without a member), encoded as the kernel encodes BTF
//! (include/uapi/linux/btf.h), so the lookups are tested on what they parse in production.

/// BTF kinds (`BTF_KIND_*`).
const INT: u32 = 1;
const PTR: u32 = 2;
const STRUCT: u32 = 4;
const TYPEDEF: u32 = 8;
const FUNC_PROTO: u32 = 13;

/// Builds raw BTF, type by type; ids start at 1 (0 is void).
pub struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl BtfBuilder {
    pub fn new() -> BtfBuilder {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    fn string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        offset
    }

    fn words(&mut self, words: &[u32]) {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }

    fn header(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
        let name = self.string(name);
        self.words(&[name, kind << 24 | vlen, size_or_type]);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// An unsigned integer of `size` bytes.
    pub fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.header(name, INT, 0, size);
        self.words(&[size * 8]);
        id
    }

    pub fn ptr(&mut self, target: u32) -> u32 {
        self.header("", PTR, 0, target)
    }

    /// A struct; members are `(name, type, byte offset)`.
    pub fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let id = self.header(name, STRUCT, members.len() as u32, size);
        for (member, type_id, offset) in members {
            let member = self.string(member);
            self.words(&[member, *type_id, offset * 8]);
        }
        id
    }

    pub fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.header(name, TYPEDEF, 0, target)
    }

    fn func_proto(&mut self, params: &[u32]) -> u32 {
        let id = self.header("", FUNC_PROTO, params.len() as u32, 0);
        for p in params {
            self.words(&[0, *p]);
        }
        id
    }

    /// `btf_trace_NAME`: `void (*)(void *, PARAMS...)`, as the kernel declares a tracepoint.
    pub fn tracepoint(&mut self, name: &str, params: &[u32]) -> u32 {
        let void_ptr = self.ptr(0);
        let all: Vec<u32> = std::iter::once(void_ptr)
            .chain(params.iter().copied())
            .collect();
        let proto = self.func_proto(&all);
        let pointer = self.ptr(proto);
        self.typedef(&format!("btf_trace_{name}"), pointer)
    }

    /// The raw BTF: header, types, strings.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        let words = [
            24,                        // hdr_len
            0,                         // type_off
            self.types.len() as u32,   // type_len
            self.types.len() as u32,   // str_off
            self.strings.len() as u32, // str_len
        ];
        for w in words {
            out.extend_from_slice(&u32::to_le_bytes(w));
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
