// SPDX-License-Identifier: GPL-2.0

//! The split virtqueue, as a vhost device drives it.
//!
//! A [`Ring`] says where a driver's descriptor table, available ring and used ring lie in the
//! owner's memory, and which features shape them; a [`RingPos`] is the device's position in
//! them. Together they do for a split ring what `drivers/vhost/vhost.c` does without an IOTLB,
//! dirty logging, `VIRTIO_F_IN_ORDER` or cross-endian rings:
//!
//! - [`Ring::next_chain`] takes the next available chain and translates its buffers through
//!   the memory table (C's `vhost_get_vq_desc()`), [`RingPos::discard`] puts chains back;
//! - [`Ring::add_used`] and [`Ring::add_used_n`] return chains to the driver
//!   (`vhost_add_used()`, `vhost_add_used_n()`);
//! - [`Ring::need_signal`] says whether the driver wants to hear about them (`vhost_notify()`);
//! - [`Ring::disable_notify`] and [`Ring::enable_notify`] switch the driver's kicks off and on.
//!
//! Every access to the ring is a checked user copy, and [`Ring::new`] refuses a ring that
//! reaches the end of the address space, so that no field's address overflows. A driver that
//! breaks its ring, or unmaps it, makes these functions fail with an error, never with
//! undefined behaviour or a panic. They are meant to run in the owner's memory, on the device's
//! worker ([`crate::vhost_task`]), and they may sleep on a user fault. They take no lock: the
//! caller serialises the users of a [`RingPos`], as C's `vq->mutex` does.
//!
//! C header: [`include/uapi/linux/virtio_ring.h`](srctree/include/uapi/linux/virtio_ring.h)

use super::mem::MemTable;
use crate::{
    prelude::*,
    sync::barrier::{
        smp_mb,
        Full,
        Read,
        Write, //
    },
    transmute::AsBytes,
    uaccess::{
        access_ok,
        get_user,
        put_user,
        UserPtr,
        UserSlice, //
    },
};

/// `VIRTIO_F_NOTIFY_ON_EMPTY`: signal when the available ring runs empty, whatever the driver
/// asked for.
pub const VIRTIO_F_NOTIFY_ON_EMPTY: u64 = 1 << 24;
/// `VIRTIO_F_ANY_LAYOUT`: the device takes any split of a message into descriptors.
pub const VIRTIO_F_ANY_LAYOUT: u64 = 1 << 27;
/// `VIRTIO_RING_F_INDIRECT_DESC`: descriptors may point to tables of descriptors.
pub const VIRTIO_RING_F_INDIRECT_DESC: u64 = 1 << 28;
/// `VIRTIO_RING_F_EVENT_IDX`: kicks and signals are asked for with event indexes.
pub const VIRTIO_RING_F_EVENT_IDX: u64 = 1 << 29;
/// `VIRTIO_F_VERSION_1`: the ring is little-endian (native-endian without it).
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

/// `VRING_DESC_F_NEXT`: the chain goes on at `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// `VRING_DESC_F_WRITE`: the buffer is for the device to write.
pub const VRING_DESC_F_WRITE: u16 = 2;
/// `VRING_DESC_F_INDIRECT`: the buffer is a table of descriptors.
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// `VRING_USED_F_NO_NOTIFY`: the device asks not to be kicked.
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;
/// `VRING_AVAIL_F_NO_INTERRUPT`: the driver asks not to be signalled.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// The largest ring the virtio specification allows.
pub const MAX_NUM: u32 = 32768;
/// The most entries an indirect table may have, as in C's `get_indirect()`.
const MAX_INDIRECT: u32 = 65536;
/// `UIO_MAXIOV`: the size of C's `iovec` arrays, and so the most pieces a chain (and, on its
/// own, an indirect table) may translate to.
pub const UIO_MAXIOV: usize = 1024;

/// A split ring in the owner's memory: its size, where its three parts are, and the features
/// that shape it.
///
/// # Invariants
///
/// `num` is a power of two from 1 to [`MAX_NUM`], `avail` is 2-byte aligned and `used` 4-byte
/// aligned. None of the three parts, event index fields included, runs past the end of the
/// address space: `desc + 16 * num`, `avail + 6 + 2 * num` and `used + 6 + 8 * num` fit a
/// `usize`, so the addresses of the ring's fields are computed without overflow.
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    num: u32,
    desc: usize,
    avail: usize,
    used: usize,
    features: u64,
}

/// One descriptor.
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

/// A chain that [`Ring::next_chain`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The index of its head descriptor: what [`Ring::add_used`] gives back.
    pub head: u16,
    /// How many pieces its driver-readable ("out") buffers translated to.
    pub out: usize,
    /// How many pieces its device-writable ("in") buffers translated to. They came after the
    /// "out" pieces.
    pub inn: usize,
    /// The bytes of its driver-readable buffers.
    pub out_len: u64,
    /// The bytes of its device-writable buffers.
    pub in_len: u64,
}

/// One element of the used ring, in the ring's byte order: a chain's head, and how many bytes
/// the device wrote to it. Made by [`Ring::used_elem`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsedElem {
    id: u32,
    len: u32,
}

// SAFETY: Two `u32`s in a `repr(C)` struct: no padding, and every byte is initialised.
unsafe impl AsBytes for UsedElem {}

/// The device's position in a [`Ring`], as C keeps it in `struct vhost_virtqueue`.
#[derive(Clone, Debug, Default)]
pub struct RingPos {
    /// The next chain to take (C's `last_avail_idx`).
    pub last_avail_idx: u16,
    /// The driver's available index, as last read (C's `avail_idx`).
    pub avail_idx: u16,
    /// The next used element to write (C's `last_used_idx`).
    pub last_used_idx: u16,
    used_flags: u16,
    signalled_used: u16,
    signalled_used_valid: bool,
}

impl RingPos {
    /// Sets where the device takes chains from, as `VHOST_SET_VRING_BASE` does.
    #[inline]
    pub fn set_base(&mut self, base: u16) {
        self.last_avail_idx = base;
        self.avail_idx = base;
    }

    /// Puts the last `n` chains taken back, to be taken again (C's `vhost_discard_vq_desc()`).
    #[inline]
    pub fn discard(&mut self, n: u16) {
        self.last_avail_idx = self.last_avail_idx.wrapping_sub(n);
    }

    /// Whether the device has taken every chain it last saw (it may have to read the driver's
    /// index again to know of more).
    #[inline]
    pub fn seen_all(&self) -> bool {
        self.avail_idx == self.last_avail_idx
    }
}

/// What a chain's buffers add up to so far.
///
/// # Invariants
///
/// `out + inn <= max`.
struct Walk {
    max: usize,
    out: usize,
    inn: usize,
    out_len: u64,
    in_len: u64,
}

impl Ring {
    /// Describes a ring of `num` entries whose descriptor table, available ring and used ring
    /// are at user addresses `desc`, `avail` and `used`, driven with `features`.
    ///
    /// Fails as `VHOST_SET_VRING_NUM` and `VHOST_SET_VRING_ADDR` do: with `EINVAL` unless `num`
    /// is a power of two from 1 to [`MAX_NUM`], `avail` is 2-byte aligned and `used` 4-byte
    /// aligned, and with `EFAULT` for an address that does not fit a pointer. It also fails
    /// with `EFAULT`, where C only finds later that the ring is not user memory, if a part
    /// reaches the end of the address space (the address one past it does not fit a `usize`).
    /// Whether the ring is user memory is [`Ring::access_ok`]'s question.
    pub fn new(num: u32, desc: u64, avail: u64, used: u64, features: u64) -> Result<Self> {
        if num == 0 || num > MAX_NUM || !num.is_power_of_two() {
            return Err(EINVAL);
        }
        let addr = |a: u64| usize::try_from(a).map_err(|_| EFAULT);
        let (desc, avail, used) = (addr(desc)?, addr(avail)?, addr(used)?);
        if avail % 2 != 0 || used % 4 != 0 {
            return Err(EINVAL);
        }
        let n = num as usize;
        let fits = |at: usize, size: usize| at.checked_add(size).is_some();
        if !fits(desc, 16 * n) || !fits(avail, 6 + 2 * n) || !fits(used, 6 + 8 * n) {
            return Err(EFAULT);
        }
        // INVARIANT: Checked above.
        Ok(Self {
            num,
            desc,
            avail,
            used,
            features,
        })
    }

    /// The number of entries.
    #[inline]
    pub fn num(&self) -> u32 {
        self.num
    }

    /// The features the ring is driven with.
    #[inline]
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Whether the ring is driven with feature `f`.
    #[inline]
    pub fn has(&self, f: u64) -> bool {
        self.features & f != 0
    }

    /// Whether the three parts of the ring are in the user address range (C's
    /// `vq_access_ok()`), the event index fields included with `VIRTIO_RING_F_EVENT_IDX`.
    pub fn access_ok(&self) -> bool {
        let num = self.num as usize;
        let event = if self.has(VIRTIO_RING_F_EVENT_IDX) {
            2
        } else {
            0
        };
        access_ok(UserPtr::from_addr(self.desc), 16 * num)
            && access_ok(UserPtr::from_addr(self.avail), 4 + 2 * num + event)
            && access_ok(UserPtr::from_addr(self.used), 4 + 8 * num + event)
    }

    /// Makes a used element for chain `head`, of which the device wrote `len` bytes.
    #[inline]
    pub fn used_elem(&self, head: u16, len: u32) -> UsedElem {
        UsedElem {
            id: self.u32_to_ring(u32::from(head)),
            len: self.u32_to_ring(len),
        }
    }

    /// Starts the device on the ring (C's `vhost_vq_init_access()`): writes the device's used
    /// flags, so that the driver sees them from the start, and takes the used index from the
    /// ring.
    pub fn init_access(&self, pos: &mut RingPos) -> Result {
        self.put_u16(self.used, pos.used_flags)?;
        pos.signalled_used_valid = false;
        // No overflow, by the type invariant.
        pos.last_used_idx = self.get_u16(self.used + 2)?;
        Ok(())
    }

    #[inline]
    fn u16_to_ring(&self, v: u16) -> u16 {
        if self.has(VIRTIO_F_VERSION_1) {
            v.to_le()
        } else {
            v
        }
    }

    #[inline]
    fn u32_to_ring(&self, v: u32) -> u32 {
        if self.has(VIRTIO_F_VERSION_1) {
            v.to_le()
        } else {
            v
        }
    }

    #[inline]
    fn u16_from(&self, b: [u8; 2]) -> u16 {
        if self.has(VIRTIO_F_VERSION_1) {
            u16::from_le_bytes(b)
        } else {
            u16::from_ne_bytes(b)
        }
    }

    #[inline]
    fn get_u16(&self, uaddr: usize) -> Result<u16> {
        Ok(self.u16_from(get_user::<u16>(UserPtr::from_addr(uaddr))?.to_ne_bytes()))
    }

    #[inline]
    fn put_u16(&self, uaddr: usize, v: u16) -> Result {
        put_user(UserPtr::from_addr(uaddr), self.u16_to_ring(v))
    }

    fn decode_desc(&self, b: &[u8; 16]) -> Desc {
        let r = |i: usize| self.u16_from([b[i], b[i + 1]]);
        let (l0, l1, flags, next) = (r(8), r(10), r(12), r(14));
        let (a0, a1, a2, a3) = (r(0), r(2), r(4), r(6));
        // The halves are in the ring's byte order; put them together in that order too.
        let (addr, len) = if self.has(VIRTIO_F_VERSION_1) || cfg!(target_endian = "little") {
            (
                u64::from(a0) | u64::from(a1) << 16 | u64::from(a2) << 32 | u64::from(a3) << 48,
                u32::from(l0) | u32::from(l1) << 16,
            )
        } else {
            (
                u64::from(a3) | u64::from(a2) << 16 | u64::from(a1) << 32 | u64::from(a0) << 48,
                u32::from(l1) | u32::from(l0) << 16,
            )
        };
        Desc {
            addr,
            len,
            flags,
            next,
        }
    }

    #[inline]
    fn read_desc(&self, i: u32) -> Result<Desc> {
        // `i < num`: no overflow, by the type invariant. A fixed-size read: one
        // `_copy_from_user()`.
        let b = UserSlice::new(UserPtr::from_addr(self.desc + 16 * i as usize), 16)
            .reader()
            .read::<[u8; 16]>()?;
        Ok(self.decode_desc(&b))
    }

    /// Reads the 16 bytes of an indirect table entry at driver address `gpa`: with one copy if
    /// they lie in one region, as they do unless the table spans regions.
    fn read_table_entry(mem: &MemTable, gpa: u64) -> Result<[u8; 16]> {
        let r = mem.region_at(gpa).ok_or(EFAULT)?;
        let off = gpa - r.gpa;
        if r.size - off >= 16 {
            // `r.uaddr + off` does not overflow: `off < r.size` ([`MemTable`]'s invariant).
            let uaddr = usize::try_from(r.uaddr + off).map_err(|_| EFAULT)?;
            return UserSlice::new(UserPtr::from_addr(uaddr), 16)
                .reader()
                .read::<[u8; 16]>();
        }
        let mut b = [0u8; 16];
        mem.read(gpa, &mut b)?;
        Ok(b)
    }

    // The addresses of the ring's fields. No overflow: an index is masked below `num`, and the
    // type invariant bounds each part, event index fields included.

    #[inline]
    fn avail_ring_addr(&self, i: u16) -> usize {
        // `num` is a power of two: the mask is C's `& (num - 1)`.
        self.avail + 4 + 2 * (u32::from(i) & (self.num - 1)) as usize
    }

    #[inline]
    fn used_event_addr(&self) -> usize {
        self.avail + 4 + 2 * self.num as usize
    }

    #[inline]
    fn used_ring_addr(&self, i: u16) -> usize {
        self.used + 4 + 8 * (u32::from(i) & (self.num - 1)) as usize
    }

    #[inline]
    fn avail_event_addr(&self) -> usize {
        self.used + 4 + 8 * self.num as usize
    }

    /// Reads the driver's available index (C's `vhost_get_avail_idx()`): refuses one more than
    /// `num` ahead of the device with `EINVAL`, and returns whether it moved since the last
    /// read. Entries it exposes are read after it.
    #[inline]
    pub fn fetch_avail_idx(&self, pos: &mut RingPos) -> Result<bool> {
        let idx = self.get_u16(self.avail + 2)?;
        if u32::from(idx.wrapping_sub(pos.last_avail_idx)) > self.num {
            return Err(EINVAL);
        }
        if idx == pos.avail_idx {
            return Ok(false);
        }
        pos.avail_idx = idx;
        // Read the ring entries only after the index that exposed them.
        smp_mb(Read);
        Ok(true)
    }

    /// Takes the next available chain (C's `vhost_get_vq_desc()`), and returns `None` if there
    /// is none.
    ///
    /// Its buffers are translated through `mem` into user address ranges, one per region a
    /// buffer touches, and `f` is called with each: user address, length, and whether the
    /// device writes it. Driver-readable pieces come first. At most `max` pieces are made, and
    /// at most [`UIO_MAXIOV`]; C's `iov_size`: a device that gathers several chains in one
    /// array passes the room left.
    ///
    /// Fails as C does, and then takes nothing (the pieces given to `f` are to be dropped):
    /// `EINVAL` for a head, index or `next` out of the ring, a loop, a misshapen or nested
    /// indirect table, or a driver-readable buffer after a device-writable one; `E2BIG` for an
    /// indirect table of more than 65536 entries; `ENOBUFS` past `max` pieces; `EFAULT` for a
    /// buffer outside the memory table or a ring that cannot be read; and what `f` fails with.
    /// A buffer that runs past the end of the address space is `EFAULT`, as in C but for a
    /// region that spans almost the whole space (see [`MemTable::translate`]).
    #[inline]
    pub fn next_chain(
        &self,
        pos: &mut RingPos,
        mem: &MemTable,
        max: usize,
        mut f: impl FnMut(u64, u64, bool) -> Result,
    ) -> Result<Option<Chain>> {
        if pos.avail_idx == pos.last_avail_idx && !self.fetch_avail_idx(pos)? {
            return Ok(None);
        }
        let head = self.get_u16(self.avail_ring_addr(pos.last_avail_idx))?;
        if u32::from(head) >= self.num {
            return Err(EINVAL);
        }
        // INVARIANT: No piece yet.
        let mut walk = Walk {
            max: max.min(UIO_MAXIOV),
            out: 0,
            inn: 0,
            out_len: 0,
            in_len: 0,
        };
        let mut i = u32::from(head);
        let mut found = 0u32;
        loop {
            if i >= self.num {
                return Err(EINVAL);
            }
            found += 1;
            if found > self.num {
                // A loop.
                return Err(EINVAL);
            }
            let d = self.read_desc(i)?;
            // As in C, whether the feature was negotiated is not looked at.
            if d.flags & VRING_DESC_F_INDIRECT != 0 {
                self.indirect(mem, &d, &mut walk, &mut f)?;
            } else {
                walk.add(mem, &d, &mut f)?;
            }
            // As C's `next_desc()`: an indirect descriptor may have a successor too.
            if d.flags & VRING_DESC_F_NEXT == 0 {
                break;
            }
            i = u32::from(d.next);
        }
        pos.last_avail_idx = pos.last_avail_idx.wrapping_add(1);
        Ok(Some(Chain {
            head,
            out: walk.out,
            inn: walk.inn,
            out_len: walk.out_len,
            in_len: walk.in_len,
        }))
    }

    /// C's `get_indirect()`: walks an indirect table, which may span regions. As in C, its
    /// entries are read in table order, whatever their `next` fields say.
    fn indirect(
        &self,
        mem: &MemTable,
        ind: &Desc,
        walk: &mut Walk,
        f: &mut impl FnMut(u64, u64, bool) -> Result,
    ) -> Result {
        if ind.len % 16 != 0 {
            return Err(EINVAL);
        }
        // All of the table must be in the memory table before any of it is read. C translates
        // it into an array of its own of `UIO_MAXIOV` (`vq->indirect`).
        mem.translate(ind.addr, u64::from(ind.len), UIO_MAXIOV, |_, _| Ok(()))?;
        let count = ind.len / 16;
        if count > MAX_INDIRECT {
            return Err(E2BIG);
        }
        for i in 0..count {
            // The whole table was translated, so `ind.addr + ind.len - 1` did not overflow.
            let d = self.decode_desc(&Self::read_table_entry(mem, ind.addr + 16 * u64::from(i))?);
            if d.flags & VRING_DESC_F_INDIRECT != 0 {
                return Err(EINVAL);
            }
            walk.add(mem, &d, f)?;
            if d.flags & VRING_DESC_F_NEXT == 0 {
                return Ok(());
            }
        }
        // Every entry says "next": C's loop check.
        Err(EINVAL)
    }

    /// Returns chain `head`, of which the device wrote `len` bytes, to the driver (C's
    /// `vhost_add_used()`). Fails with `EFAULT` if the used ring cannot be written; the
    /// device's used index has moved on all the same if only the driver's copy of it failed,
    /// as in C.
    #[inline]
    pub fn add_used(&self, pos: &mut RingPos, head: u16, len: u32) -> Result {
        let e = self.used_elem(head, len);
        // A used element is only 4-byte aligned: two 4-byte stores.
        let at = self.used_ring_addr(pos.last_used_idx);
        put_user(UserPtr::from_addr(at), e.id)?;
        put_user(UserPtr::from_addr(at + 4), e.len)?;
        self.publish_used(pos, 1)
    }

    /// Returns `elems.len()` chains to the driver (C's `vhost_add_used_n()`): one copy for the
    /// elements up to the end of the ring and one for the rest, then the used index.
    ///
    /// Fails with `EINVAL` for more elements than the ring has entries, and with `EFAULT` if
    /// the used ring cannot be written. What was written before a failure stays written, and
    /// the device's used index counts it, as in C.
    pub fn add_used_n(&self, pos: &mut RingPos, elems: &[UsedElem]) -> Result {
        if elems.len() > self.num as usize {
            return Err(EINVAL);
        }
        let to_end = (self.num - (u32::from(pos.last_used_idx) & (self.num - 1))) as usize;
        let (first, rest) = elems.split_at(to_end.min(elems.len()));
        for part in [first, rest] {
            if part.is_empty() {
                continue;
            }
            let bytes = part.as_bytes();
            UserSlice::new(
                UserPtr::from_addr(self.used_ring_addr(pos.last_used_idx)),
                bytes.len(),
            )
            .writer()
            .write_slice(bytes)?;
            // Each part is at most `num` elements (checked above), at most 32768: fits a `u16`.
            self.move_used(pos, part.len() as u16);
        }
        self.write_used_idx(pos)
    }

    /// Moves the device's used index on by `n` written elements (C's `__vhost_add_used_n()`).
    #[inline]
    fn move_used(&self, pos: &mut RingPos, n: u16) {
        let old = pos.last_used_idx;
        let new = old.wrapping_add(n);
        pos.last_used_idx = new;
        // If the driver has not been signalled for a whole turn of the index,
        // `signalled_used` would mean a turn ago: forget it.
        if new.wrapping_sub(pos.signalled_used) < new.wrapping_sub(old) {
            pos.signalled_used_valid = false;
        }
    }

    /// Makes the elements written so far visible to the driver.
    #[inline]
    fn write_used_idx(&self, pos: &RingPos) -> Result {
        // The elements must be visible before the index that exposes them.
        smp_mb(Write);
        self.put_u16(self.used + 2, pos.last_used_idx)
    }

    #[inline]
    fn publish_used(&self, pos: &mut RingPos, n: u16) -> Result {
        self.move_used(pos, n);
        self.write_used_idx(pos)
    }

    /// Whether the driver wants a signal for the chains used since the last one it got (C's
    /// `vhost_notify()`). With `VIRTIO_RING_F_EVENT_IDX` a decision past the
    /// `VIRTIO_F_NOTIFY_ON_EMPTY` check counts as the signal: call it only if the device has
    /// somewhere to send one. A ring that cannot be read says "signal".
    #[inline]
    pub fn need_signal(&self, pos: &mut RingPos) -> bool {
        // Pairs with the driver's barrier between asking for signals and reading the index.
        smp_mb(Full);
        if self.has(VIRTIO_F_NOTIFY_ON_EMPTY) && pos.avail_idx == pos.last_avail_idx {
            return true;
        }
        if !self.has(VIRTIO_RING_F_EVENT_IDX) {
            return self
                .get_u16(self.avail)
                .map_or(true, |f| f & VRING_AVAIL_F_NO_INTERRUPT == 0);
        }
        let (old, valid) = (pos.signalled_used, pos.signalled_used_valid);
        let new = pos.last_used_idx;
        pos.signalled_used = new;
        pos.signalled_used_valid = true;
        if !valid {
            return true;
        }
        self.get_u16(self.used_event_addr())
            .map_or(true, |event| need_event(event, new, old))
    }

    /// Asks the driver not to kick (C's `vhost_disable_notify()`). A failed write is not
    /// reported: C only logs it.
    #[inline]
    pub fn disable_notify(&self, pos: &mut RingPos) {
        if pos.used_flags & VRING_USED_F_NO_NOTIFY != 0 {
            return;
        }
        pos.used_flags |= VRING_USED_F_NO_NOTIFY;
        if !self.has(VIRTIO_RING_F_EVENT_IDX) {
            let _ = self.put_u16(self.used, pos.used_flags);
        }
    }

    /// Asks the driver to kick again (C's `vhost_enable_notify()`), and returns whether chains
    /// came in meanwhile: then the caller should [`Ring::disable_notify`] and go on. Errors
    /// count as "none", as in C.
    #[inline]
    pub fn enable_notify(&self, pos: &mut RingPos) -> bool {
        if pos.used_flags & VRING_USED_F_NO_NOTIFY == 0 {
            return false;
        }
        pos.used_flags &= !VRING_USED_F_NO_NOTIFY;
        let written = if self.has(VIRTIO_RING_F_EVENT_IDX) {
            self.put_u16(self.avail_event_addr(), pos.avail_idx)
        } else {
            self.put_u16(self.used, pos.used_flags)
        };
        if written.is_err() {
            return false;
        }
        // The driver may have added chains before it saw the request: look again, with the
        // same checks as the first look.
        smp_mb(Full);
        self.fetch_avail_idx(pos).unwrap_or(false)
    }
}

/// `vring_need_event()`: whether the driver, which asked to hear when the used index passes
/// `event`, wants a signal now that it moved from `old` to `new`.
#[inline]
pub fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

impl Walk {
    /// Adds one direct descriptor: translates it, and checks C's rules.
    #[inline]
    fn add(
        &mut self,
        mem: &MemTable,
        d: &Desc,
        f: &mut impl FnMut(u64, u64, bool) -> Result,
    ) -> Result {
        let write = d.flags & VRING_DESC_F_WRITE != 0;
        // The room left: the invariant says it does not underflow.
        let room = self.max - self.out - self.inn;
        // As in C, translated before the order is checked.
        let n = mem.translate(d.addr, u64::from(d.len), room, |uaddr, len| {
            f(uaddr, len, write)
        })?;
        if !write && self.inn != 0 {
            // "Descriptor has out after in".
            return Err(EINVAL);
        }
        // INVARIANT: `translate` makes at most `room` ranges: `n <= room`.
        // The lengths cannot overflow: a descriptor of a nonzero length makes at least one
        // piece, so at most `UIO_MAXIOV` lengths below 2^32 add up.
        if write {
            self.inn += n;
            self.in_len += u64::from(d.len);
        } else {
            self.out += n;
            self.out_len += u64::from(d.len);
        }
        Ok(())
    }
}

#[macros::kunit_tests(rust_vhost_ring)]
mod tests {
    use super::*;
    use crate::{
        alloc::KVec,
        transmute::FromBytes,
        vhost::mem::{
            Region,
            MAX_REGIONS, //
        },
    };

    /// Where the test ring's parts are, from the start of the test's user memory.
    const DESC: usize = 0;
    const AVAIL: usize = 0x1000;
    const USED: usize = 0x2000;
    /// The buffers' region: driver addresses `[GPA, GPA + 0x4000)` at `BUFS`.
    const BUFS: usize = 0x4000;
    const GPA: u64 = 0x10_0000;
    const LEN: usize = 0x10000;
    const F: u64 = VIRTIO_F_VERSION_1 | VIRTIO_RING_F_EVENT_IDX;

    /// Maps `LEN` bytes of anonymous user memory into an mm that KUnit gives the test's thread;
    /// the mapping goes with that mm, when the test's thread exits.
    fn user_mem() -> Result<usize> {
        // SAFETY: Always safe to call.
        let test = unsafe { bindings::kunit_get_current_test() };
        if test.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: `test` is the test this thread runs, alive until the test function returns.
        // The mapping is anonymous and private, in the mm KUnit attaches to this thread, and
        // goes with that mm.
        let addr = unsafe {
            bindings::kunit_vm_mmap(
                test,
                core::ptr::null_mut(),
                0,
                LEN,
                (bindings::PROT_READ | bindings::PROT_WRITE) as usize,
                (bindings::MAP_ANONYMOUS | bindings::MAP_PRIVATE) as usize,
                0,
            )
        };
        // `vm_mmap()` returns an errno as a high address, which KUnit passes on; KUnit's own
        // failures are 0.
        if addr == 0 {
            return Err(ENOMEM);
        }
        if addr > usize::MAX - 4095 {
            // An errno from -4095 to -1: fits an `i32`.
            return Err(Error::from_errno(addr as isize as i32));
        }
        Ok(addr)
    }

    fn put<T: AsBytes>(at: usize, v: &T) -> Result {
        UserSlice::new(UserPtr::from_addr(at), core::mem::size_of::<T>())
            .writer()
            .write(v)
    }

    fn get<T: FromBytes>(at: usize) -> Result<T> {
        UserSlice::new(UserPtr::from_addr(at), core::mem::size_of::<T>())
            .reader()
            .read()
    }

    /// Writes descriptor `i` of the ring at `base`, little-endian.
    fn desc(base: usize, i: usize, addr: u64, len: u32, flags: u16, next: u16) -> Result {
        put(base + DESC + 16 * i, &addr.to_le())?;
        put(base + DESC + 16 * i + 8, &len.to_le())?;
        put(base + DESC + 16 * i + 12, &flags.to_le())?;
        put(base + DESC + 16 * i + 14, &next.to_le())
    }

    /// Makes `heads` available after the `done` entries made available before.
    fn avail(base: usize, done: u16, heads: &[u16]) -> Result {
        let mut idx = done;
        for &h in heads {
            put(base + AVAIL + 4 + 2 * (usize::from(idx) % 8), &h.to_le())?;
            idx = idx.wrapping_add(1);
        }
        put(base + AVAIL + 2, &idx.to_le())
    }

    /// A ring of 8 entries at `base`, and the memory table of its buffers.
    fn setup(base: usize, features: u64) -> Result<(Ring, MemTable)> {
        let ring = Ring::new(
            8,
            (base + DESC) as u64,
            (base + AVAIL) as u64,
            (base + USED) as u64,
            features,
        )?;
        let mem = MemTable::from_regions(
            &[Region {
                gpa: GPA,
                size: 0x4000,
                uaddr: (base + BUFS) as u64,
            }],
            MAX_REGIONS,
            GFP_KERNEL,
        )?;
        Ok((ring, mem))
    }

    /// User address, length, and whether the device writes it.
    type Pieces = KVec<(u64, u64, bool)>;

    /// Takes the next chain, with its pieces.
    fn next(
        ring: &Ring,
        pos: &mut RingPos,
        mem: &MemTable,
        max: usize,
    ) -> Result<Option<(Chain, Pieces)>> {
        let mut pieces = KVec::new();
        let chain = ring.next_chain(pos, mem, max, |u, l, w| {
            pieces.push((u, l, w), GFP_KERNEL)?;
            Ok(())
        })?;
        Ok(chain.map(|c| (c, pieces)))
    }

    #[test]
    fn new_checks_what_c_checks() -> Result {
        for num in [0, 3, 100, MAX_NUM * 2] {
            assert_eq!(Ring::new(num, 0, 0, 0, 0).err(), Some(EINVAL));
        }
        assert!(Ring::new(MAX_NUM, 0, 0, 0, 0).is_ok());
        assert_eq!(Ring::new(8, 0, 1, 0, 0).err(), Some(EINVAL));
        assert_eq!(Ring::new(8, 0, 0, 2, 0).err(), Some(EINVAL));
        // The descriptor table's alignment is not looked at, as in C.
        assert!(Ring::new(8, 8, 2, 4, 0).is_ok());
        let ring = Ring::new(8, 0, 0, 0, 0)?;
        // Parts that reach the end of the address space (one past them does not fit), and
        // parts that stop just short of it. The avail ring of 8 takes 22 bytes, the used ring
        // 70, the table 128.
        let top = usize::MAX as u64;
        assert_eq!(Ring::new(8, 0, top - 21, 0, 0).err(), Some(EFAULT));
        assert_eq!(Ring::new(8, top - 127, 0, 0, 0).err(), Some(EFAULT));
        assert_eq!(Ring::new(8, 0, 0, top - 67, 0).err(), Some(EFAULT));
        assert!(Ring::new(8, top - 128, top - 23, top - 71, 0).is_ok());
        assert!(!Ring::new(8, top - 128, 0, 0, 0)?.access_ok());
        assert!(ring.access_ok());
        Ok(())
    }

    #[test]
    fn takes_a_chain_and_returns_it() -> Result {
        let base = user_mem()?;
        let (ring, mem) = setup(base, F)?;
        let b = (base + BUFS) as u64;
        desc(base, 0, GPA, 100, VRING_DESC_F_NEXT, 5)?;
        desc(base, 5, GPA + 0x100, 200, VRING_DESC_F_WRITE, 0)?;
        avail(base, 0, &[0])?;
        put(base + USED + 2, &7u16.to_le())?;
        let mut pos = RingPos::default();
        ring.init_access(&mut pos)?;
        assert_eq!(pos.last_used_idx, 7);
        let (chain, pieces) = next(&ring, &mut pos, &mem, UIO_MAXIOV)?.ok_or(EINVAL)?;
        assert_eq!(
            chain,
            Chain {
                head: 0,
                out: 1,
                inn: 1,
                out_len: 100,
                in_len: 200
            }
        );
        assert_eq!(pieces[..], [(b, 100, false), (b + 0x100, 200, true)]);
        assert!(next(&ring, &mut pos, &mem, UIO_MAXIOV)?.is_none());
        assert!(pos.seen_all());
        ring.add_used(&mut pos, 0, 200)?;
        // Slot 7, then the index.
        assert_eq!(
            get::<[u32; 2]>(base + USED + 4 + 8 * 7)?,
            [0, 200u32.to_le()]
        );
        assert_eq!(u16::from_le(get(base + USED + 2)?), 8);
        // Put back, it is taken again.
        pos.discard(1);
        assert_eq!(
            next(&ring, &mut pos, &mem, UIO_MAXIOV)?.map(|c| c.0.head),
            Some(0)
        );
        Ok(())
    }

    #[test]
    fn add_used_n_splits_at_the_wrap() -> Result {
        let base = user_mem()?;
        let (ring, _) = setup(base, F)?;
        // An index past `num`: its slot is the index modulo `num`.
        put(base + USED + 2, &14u16.to_le())?;
        let mut pos = RingPos::default();
        ring.init_access(&mut pos)?;
        let e: [UsedElem; 9] = core::array::from_fn(|h| ring.used_elem(h as u16, h as u32 * 10));
        assert_eq!(ring.add_used_n(&mut pos, &e), Err(EINVAL));
        // The driver was last signalled at 16, passed by this batch: forgotten.
        (pos.signalled_used, pos.signalled_used_valid) = (16, true);
        ring.add_used_n(&mut pos, &e[..4])?;
        assert!(!pos.signalled_used_valid);
        // Slots 6 and 7, then 0 and 1.
        for (slot, h) in [(6, 0u32), (7, 1), (0, 2), (1, 3)] {
            assert_eq!(
                get::<[u32; 2]>(base + USED + 4 + 8 * slot)?,
                [h.to_le(), (h * 10).to_le()]
            );
        }
        assert_eq!(u16::from_le(get(base + USED + 2)?), 18);
        assert_eq!(pos.last_used_idx, 18);
        // Not passed: kept.
        (pos.signalled_used, pos.signalled_used_valid) = (17, true);
        ring.add_used_n(&mut pos, &e[..8])?;
        assert!(pos.signalled_used_valid);
        // None at all still writes the index.
        put(base + USED + 2, &0u16)?;
        ring.add_used_n(&mut pos, &[])?;
        assert_eq!(u16::from_le(get(base + USED + 2)?), 26);
        Ok(())
    }

    #[test]
    fn bad_chains_take_nothing() -> Result {
        let base = user_mem()?;
        let (ring, mem) = setup(base, F)?;
        let mut pos = RingPos::default();
        let mut check = |err: Error| -> Result {
            let before = pos.last_avail_idx;
            assert_eq!(next(&ring, &mut pos, &mem, UIO_MAXIOV).err(), Some(err));
            assert_eq!(pos.last_avail_idx, before);
            Ok(())
        };
        // A head out of the ring.
        avail(base, 0, &[8])?;
        check(EINVAL)?;
        // A next out of the ring.
        avail(base, 0, &[0])?;
        desc(base, 0, GPA, 1, VRING_DESC_F_NEXT, 9)?;
        check(EINVAL)?;
        // A loop.
        desc(base, 0, GPA, 1, VRING_DESC_F_NEXT, 1)?;
        desc(base, 1, GPA, 1, VRING_DESC_F_NEXT, 0)?;
        check(EINVAL)?;
        // Out after in.
        desc(base, 0, GPA, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1)?;
        desc(base, 1, GPA, 1, 0, 0)?;
        check(EINVAL)?;
        // An "out" after "in" that is not in the memory table either: translated first, as in
        // C.
        desc(base, 1, GPA - 1, 1, 0, 0)?;
        check(EFAULT)?;
        // Out of the memory table, at either end.
        desc(base, 0, GPA - 1, 1, 0, 0)?;
        check(EFAULT)?;
        desc(base, 0, GPA + 0x3fff, 2, 0, 0)?;
        check(EFAULT)?;
        // A nested indirect table.
        put(
            base + BUFS,
            &[
                (GPA + 0x100).to_le(),
                (u64::from(VRING_DESC_F_INDIRECT) << 32 | 16).to_le(),
            ],
        )?;
        desc(base, 0, GPA, 16, VRING_DESC_F_INDIRECT, 0)?;
        check(EINVAL)?;
        // A table of a size that is not whole entries (with a good entry in it).
        put(base + BUFS, &[GPA.to_le(), 1u64.to_le()])?;
        desc(base, 0, GPA, 17, VRING_DESC_F_INDIRECT, 0)?;
        check(EINVAL)?;
        // An avail index more than `num` ahead, read afresh.
        desc(base, 0, GPA, 1, 0, 0)?;
        avail(base, 0, &[0; 9])?;
        assert_eq!(
            next(&ring, &mut RingPos::default(), &mem, UIO_MAXIOV).err(),
            Some(EINVAL)
        );
        // A ring that is not mapped.
        let gone = Ring::new(8, 8, 8, 8, F)?;
        assert_eq!(
            gone.next_chain(&mut RingPos::default(), &mem, UIO_MAXIOV, |_, _, _| Ok(()))
                .err(),
            Some(EFAULT)
        );
        // After all that, a good chain goes.
        avail(base, 0, &[0])?;
        assert!(next(&ring, &mut pos, &mem, UIO_MAXIOV)?.is_some());
        // A chain of all `num` descriptors, and all `num` entries available at once.
        for i in 0..8u16 {
            desc(
                base,
                i.into(),
                GPA,
                1,
                if i < 7 { VRING_DESC_F_NEXT } else { 0 },
                i + 1,
            )?;
        }
        avail(base, 1, &[0; 8])?;
        for _ in 0..8 {
            let (chain, _) = next(&ring, &mut pos, &mem, UIO_MAXIOV)?.ok_or(EINVAL)?;
            assert_eq!((chain.head, chain.out), (0, 8));
        }
        assert!(next(&ring, &mut pos, &mem, UIO_MAXIOV)?.is_none());
        Ok(())
    }

    #[test]
    fn indirect_tables_and_the_piece_limit() -> Result {
        let base = user_mem()?;
        let (ring, mem) = setup(base, F)?;
        let mut pos = RingPos::default();
        let b = (base + BUFS) as u64;
        // A table of 3 entries at GPA + 0x1000: two out, one in; their `next` is ignored.
        let t = base + BUFS + 0x1000;
        for (i, (addr, flags)) in [
            (GPA, VRING_DESC_F_NEXT),
            (GPA + 0x10, VRING_DESC_F_NEXT),
            (GPA + 0x20, VRING_DESC_F_WRITE),
        ]
        .into_iter()
        .enumerate()
        {
            put(
                t + 16 * i,
                &[addr.to_le(), (u64::from(flags) << 32 | 4).to_le()],
            )?;
        }
        desc(
            base,
            0,
            GPA + 0x1000,
            48,
            VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
            1,
        )?;
        desc(base, 1, GPA + 0x30, 8, VRING_DESC_F_WRITE, 0)?;
        avail(base, 0, &[0, 0])?;
        let (chain, pieces) = next(&ring, &mut pos, &mem, UIO_MAXIOV)?.ok_or(EINVAL)?;
        assert_eq!(
            (chain.out, chain.inn, chain.out_len, chain.in_len),
            (2, 2, 8, 12)
        );
        assert_eq!(
            pieces[..],
            [
                (b, 4, false),
                (b + 0x10, 4, false),
                (b + 0x20, 4, true),
                (b + 0x30, 8, true)
            ]
        );
        // Four pieces do not fit in three: ENOBUFS, and nothing is taken.
        assert_eq!(next(&ring, &mut pos, &mem, 3).err(), Some(ENOBUFS));
        assert_eq!(pos.last_avail_idx, 1);
        assert!(next(&ring, &mut pos, &mem, 4)?.is_some());
        Ok(())
    }

    #[test]
    fn notify_and_signal() -> Result {
        // `vring_need_event()`: the event index passed, in a turn of the index.
        assert!(need_event(5, 6, 5));
        assert!(!need_event(6, 6, 5));
        assert!(need_event(0xffff, 1, 0xfffe));
        assert!(!need_event(3, 10, 10));

        let base = user_mem()?;
        // Without event indexes: the flags.
        let (ring, _) = setup(base, VIRTIO_F_VERSION_1)?;
        let mut pos = RingPos::default();
        ring.disable_notify(&mut pos);
        assert_eq!(u16::from_le(get(base + USED)?), VRING_USED_F_NO_NOTIFY);
        assert!(!ring.enable_notify(&mut pos));
        assert_eq!(u16::from_le(get::<u16>(base + USED)?), 0);
        ring.disable_notify(&mut pos);
        avail(base, 0, &[0])?;
        // A chain came in before the driver saw the request.
        assert!(ring.enable_notify(&mut pos));
        put(base + AVAIL, &VRING_AVAIL_F_NO_INTERRUPT.to_le())?;
        assert!(!ring.need_signal(&mut pos));
        put(base + AVAIL, &0u16)?;
        assert!(ring.need_signal(&mut pos));

        // NOTIFY_ON_EMPTY: once every chain is taken, whatever the driver asked.
        let (ring, _) = setup(base, VIRTIO_F_VERSION_1 | VIRTIO_F_NOTIFY_ON_EMPTY)?;
        let mut pos = RingPos::default();
        put(base + AVAIL, &VRING_AVAIL_F_NO_INTERRUPT.to_le())?;
        assert!(ring.need_signal(&mut pos));
        pos.avail_idx = 1;
        assert!(!ring.need_signal(&mut pos));
        put(base + AVAIL, &0u16)?;

        // With event indexes: the driver's used event, and the device's avail event. The used
        // flags are written by `init_access()` only.
        put(base + USED, &0u16)?;
        let (ring, _) = setup(base, F)?;
        let mut pos = RingPos::default();
        pos.set_base(5);
        ring.disable_notify(&mut pos);
        assert_eq!(get::<u16>(base + USED)?, 0);
        // A restart forgets the last signal.
        pos.signalled_used_valid = true;
        ring.init_access(&mut pos)?;
        assert!(!pos.signalled_used_valid);
        assert_eq!(u16::from_le(get(base + USED)?), VRING_USED_F_NO_NOTIFY);
        put(base + AVAIL + 2, &7u16.to_le())?;
        assert!(ring.enable_notify(&mut pos));
        assert_eq!(u16::from_le(get(base + USED + 4 + 8 * 8)?), 5);
        put(base + AVAIL + 4 + 2 * 8, &1u16.to_le())?;
        // The first decision signals: nothing was signalled before.
        ring.add_used_n(&mut pos, &[ring.used_elem(0, 0)])?;
        assert!(ring.need_signal(&mut pos));
        // Used index 1 -> 2 passes event 1; 2 -> 3 does not.
        ring.add_used(&mut pos, 1, 0)?;
        assert!(ring.need_signal(&mut pos));
        ring.add_used(&mut pos, 2, 0)?;
        assert!(!ring.need_signal(&mut pos));
        Ok(())
    }

    #[test]
    fn indirect_limits() -> Result {
        let base = user_mem()?;
        let (ring, _) = setup(base, F)?;
        let b = (base + BUFS) as u64;
        let reg = |gpa: u64, size: u64, at: usize| Region {
            gpa,
            size,
            uaddr: (base + at) as u64,
        };
        // The buffers; a region of 0x8000 for tables; two regions, apart in user memory, that
        // a table spans; and 2 MiB that are never read.
        let mem = MemTable::from_regions(
            &[
                reg(GPA, 0x4000, BUFS),
                reg(0x20_0000, 0x8000, 0x8000),
                reg(0x2f_fff0, 0x10, 0x4000),
                reg(0x30_0000, 0x100, 0x5000),
                reg(0x100_0000, 0x20_0000, 0),
            ],
            MAX_REGIONS,
            GFP_KERNEL,
        )?;
        let entry = |at: usize, addr: u64, len: u32, flags: u16| {
            put(
                at,
                &[
                    addr.to_le(),
                    (u64::from(flags) << 32 | u64::from(len)).to_le(),
                ],
            )
        };
        let mut pos = RingPos::default();
        let mut run = |addr: u64, len: u32, max: usize| {
            desc(base, 0, addr, len, VRING_DESC_F_INDIRECT, 0)?;
            avail(base, pos.last_avail_idx, &[0])?;
            next(&ring, &mut pos, &mem, max)
        };
        // 1024 one-byte buffers fit in any `max` above; 1025 never do.
        for i in 0..1025 {
            entry(base + 0x8000 + 16 * i, GPA, 1, VRING_DESC_F_NEXT)?;
        }
        entry(base + 0x8000 + 16 * 1023, GPA, 1, 0)?;
        assert_eq!(
            run(0x20_0000, 16 * 1024, usize::MAX)?.map(|c| c.0.out),
            Some(1024)
        );
        entry(base + 0x8000 + 16 * 1024, GPA, 1, 0)?;
        entry(base + 0x8000 + 16 * 1023, GPA, 1, VRING_DESC_F_NEXT)?;
        assert_eq!(run(0x20_0000, 16 * 1025, usize::MAX).err(), Some(ENOBUFS));
        // Every entry says "next".
        assert_eq!(run(0x20_0000, 16 * 2, usize::MAX).err(), Some(EINVAL));
        // More than 65536 entries, in memory that is never read.
        assert_eq!(run(0x100_0000, 16 * 65537, usize::MAX).err(), Some(E2BIG));
        // A table across two regions: the first entry's halves are 4 KiB apart in user memory.
        put(base + 0x4008, &GPA.to_le())?;
        put(
            base + 0x5000,
            &(u64::from(VRING_DESC_F_NEXT) << 32 | 4).to_le(),
        )?;
        entry(base + 0x5008, GPA + 0x10, 4, VRING_DESC_F_WRITE)?;
        let (chain, pieces) = run(0x2f_fff8, 32, UIO_MAXIOV)?.ok_or(EINVAL)?;
        assert_eq!((chain.out, chain.inn), (1, 1));
        assert_eq!(pieces[..], [(b, 4, false), (b + 0x10, 4, true)]);
        Ok(())
    }
}
