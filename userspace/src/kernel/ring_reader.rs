//! Reads a BPF ring buffer map (`BPF_MAP_TYPE_RINGBUF`) in batches: every record of a batch,
//! then one store of the consumer position.
//!
//! aya's `RingBuf` publishes the consumer position after each record. The probes read that
//! position on every reservation (the kernel checks for room), so a reader on another CPU
//! writing it a million times a second makes nearly every reservation miss its cache, on the
//! CPU that does the I/O. Published once per batch, the line stays put between batches.
//!
//! The layout is the kernel's (kernel/bpf/ringbuf.c): a consumer page (read-write, the
//! consumer position first), a producer page (read-only, the producer position first), then
//! the data pages mapped twice in a row so that a record that wraps reads as one slice. Each
//! record starts with an 8-byte header: its length with the BUSY (being written) and DISCARD
//! bits on top, and a page offset only the kernel uses; records are 8-byte aligned.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use aya::maps::{Map, MapData, MapError};
use memmap2::{Mmap, MmapMut, MmapOptions};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("not a ring buffer map")]
    NotRingBuf,
    #[error("no ring buffer to read")]
    NoRing,
    #[error(transparent)]
    Map(#[from] MapError),
    #[error("mapping the ring buffer: {0}")]
    Mmap(#[from] std::io::Error),
    #[error("waiting on the ring buffers: {0}")]
    Epoll(#[from] nix::Error),
}

/// A batch reader of one ring buffer map.
pub struct RingReader {
    /// Keeps the map (and so the mappings' file) open.
    map: MapData,
    consumer: MmapMut,
    /// The producer page, then the data pages twice.
    producer: Mmap,
    page: usize,
    mask: usize,
    /// How far this reader got (published at the end of each batch).
    position: usize,
}

impl RingReader {
    pub fn new(map: Map) -> Result<RingReader, RingError> {
        let Map::RingBuf(map) = map else {
            return Err(RingError::NotRingBuf);
        };
        let size = map.info()?.max_entries() as usize;
        let page = page_size();
        let fd = map.fd().as_fd().as_raw_fd();
        // SAFETY: the kernel maps the consumer page read-write at offset 0 and the producer
        // page and data pages read-only after it; the mappings live no longer than `map`.
        let consumer = unsafe { MmapOptions::new().len(page).map_mut(fd)? };
        // SAFETY: as above.
        let producer = unsafe {
            MmapOptions::new()
                .offset(page as u64)
                .len(page + 2 * size)
                .map(fd)?
        };
        let mut reader = RingReader {
            map,
            consumer,
            producer,
            page,
            mask: size - 1,
            position: 0,
        };
        reader.position = reader.consumer_position().load(Ordering::Acquire);
        Ok(reader)
    }

    /// Hands up to `most` records to `each`, in the order they were reserved, then tells the
    /// kernel their room is free. True when the buffer held nothing more that was complete:
    /// the caller waits for the next wakeup.
    pub fn read(&mut self, most: usize, each: &mut dyn FnMut(&[u8])) -> bool {
        let mut handed = 0;
        let mut produced = self.producer_position();
        let emptied = loop {
            if handed == most {
                break false;
            }
            if self.position == produced {
                produced = self.producer_position();
                if self.position == produced {
                    break true;
                }
            }
            let offset = self.position & self.mask;
            let header = self.header_at(offset).load(Ordering::Acquire);
            if header & BUSY_BIT != 0 {
                // Reserved, not yet committed: the next read finds it.
                break true;
            }
            let len = (header & !(BUSY_BIT | DISCARD_BIT)) as usize;
            if header & DISCARD_BIT == 0 {
                let start = self.page + offset + HEADER_LEN;
                each(&self.producer[start..start + len]);
                handed += 1;
            }
            self.position += (len + HEADER_LEN).next_multiple_of(8);
        };
        // Pairs with the kernel's acquire load before it reuses the room.
        self.consumer_position()
            .store(self.position, Ordering::Release);
        emptied
    }

    fn consumer_position(&self) -> &AtomicUsize {
        // SAFETY: the consumer page starts with the kernel's `unsigned long consumer_pos`,
        // page-aligned, written only by readers.
        unsafe { &*self.consumer.as_ptr().cast::<AtomicUsize>() }
    }

    fn producer_position(&self) -> usize {
        // SAFETY: the producer page starts with the kernel's `unsigned long producer_pos`.
        let producer = unsafe { &*self.producer.as_ptr().cast::<AtomicUsize>() };
        producer.load(Ordering::Acquire)
    }

    fn header_at(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: `offset` is below the data size and 8-byte aligned (records are), so the
        // header lies inside the first copy of the data pages.
        unsafe {
            &*self
                .producer
                .as_ptr()
                .add(self.page + offset)
                .cast::<AtomicU32>()
        }
    }
}

/// The ring buffers of one probe set, read as one: a single ring as it is, several through an
/// epoll instance, readable when any of them is.
pub struct RingSet {
    rings: Vec<RingReader>,
    epoll: Option<Epoll>,
}

impl RingSet {
    pub fn new(rings: Vec<RingReader>) -> Result<RingSet, RingError> {
        if rings.is_empty() {
            return Err(RingError::NoRing);
        }
        let epoll = if rings.len() > 1 {
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            for (n, ring) in (0u64..).zip(&rings) {
                epoll.add(ring, EpollEvent::new(EpollFlags::EPOLLIN, n))?;
            }
            Some(epoll)
        } else {
            None
        };
        Ok(RingSet { rings, epoll })
    }

    /// Up to `most` records of each ring (one ring after the other: each ring's records in
    /// their order, none across rings); true when every ring was emptied.
    pub fn read(&mut self, most: usize, each: &mut dyn FnMut(&[u8])) -> bool {
        let mut emptied = true;
        for ring in &mut self.rings {
            emptied &= ring.read(most, &mut *each);
        }
        emptied
    }
}

impl AsFd for RingSet {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.epoll {
            Some(epoll) => epoll.0.as_fd(),
            // One ring (new() refuses none).
            None => self.rings[0].as_fd(),
        }
    }
}

impl AsRawFd for RingSet {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl AsFd for RingReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd().as_fd()
    }
}

impl AsRawFd for RingReader {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}
