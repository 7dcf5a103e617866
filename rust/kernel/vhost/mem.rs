// SPDX-License-Identifier: GPL-2.0

//! The memory table of a vhost device.
//!
//! The owner of a vhost device describes its memory with `VHOST_SET_MEM_TABLE`, as regions:
//! the driver's addresses ("guest physical" addresses, which descriptors carry) `[gpa, gpa +
//! size)` are the owner's user addresses `[uaddr, uaddr + size)`. Before the device copies a
//! buffer, it translates the buffer's driver address into one user address range per region
//! that the buffer touches, as `translate_desc()` in `drivers/vhost/vhost.c` does.
//!
//! A [`MemTable`] only computes addresses. It never dereferences them: the device copies with
//! the user-copy functions of [`crate::uaccess`], which check every access, from a task that
//! runs in the owner's memory.
//!
//! C header: [`include/uapi/linux/vhost_types.h`](srctree/include/uapi/linux/vhost_types.h)

use crate::{
    alloc::{
        Flags,
        KVec, //
    },
    prelude::*,
    transmute::FromBytes,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// The default limit on the regions of a [`MemTable`]: the default of `vhost.ko`'s
/// `max_mem_regions` parameter. A device may take a different limit, as C's parameter allows.
pub const MAX_REGIONS: usize = 64;

/// One region of a [`MemTable`]: driver addresses `[gpa, gpa + size)` are the owner's user
/// addresses `[uaddr, uaddr + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// The first driver address of the region.
    pub gpa: u64,
    /// The size of the region, in bytes.
    pub size: u64,
    /// The user address of the first byte of the region.
    pub uaddr: u64,
}

impl Region {
    /// Whether driver address `gpa` is in this region.
    #[inline]
    fn holds(&self, gpa: u64) -> bool {
        gpa >= self.gpa && gpa - self.gpa < self.size
    }
}

/// `struct vhost_memory_region`, as user space passes it.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawRegion {
    guest_phys_addr: u64,
    memory_size: u64,
    userspace_addr: u64,
    flags_padding: u64,
}

// SAFETY: `RawRegion` is four `u64`s with no padding between them, and every bit pattern is a
// valid `u64`.
unsafe impl FromBytes for RawRegion {}

/// A memory table: the regions that `VHOST_SET_MEM_TABLE` describes.
///
/// Regions may overlap, as in C. A driver address belongs to the region that holds it and
/// starts lowest, and of two that start at the same address, to the one given first: the
/// region that `vhost_iotlb_itree_first()` finds.
///
/// # Invariants
///
/// - `regions` is sorted by [`Region::gpa`]; regions with the same `gpa` are in the order they
///   were given.
/// - Every region is non-empty, and neither `gpa + size - 1` nor `uaddr + size - 1` overflows
///   a `u64`.
///
/// # Examples
///
/// ```
/// use kernel::vhost::mem::{MemTable, Region, MAX_REGIONS};
///
/// // Driver addresses 0x0-0x1fff are the owner's 0x10000-0x11fff,
/// // and 0x2000-0x2fff its 0x50000-0x50fff.
/// let mem = MemTable::from_regions(
///     &[
///         Region { gpa: 0x2000, size: 0x1000, uaddr: 0x50000 },
///         Region { gpa: 0, size: 0x2000, uaddr: 0x10000 },
///     ],
///     MAX_REGIONS,
///     GFP_KERNEL,
/// )?;
///
/// // A buffer across both regions is two user ranges.
/// let mut got = KVec::new();
/// let n = mem.translate(0x1ff0, 0x20, 8, |uaddr, len| Ok(got.push((uaddr, len), GFP_KERNEL)?))?;
/// assert_eq!(n, 2);
/// assert_eq!(&got[..], &[(0x11ff0, 0x10), (0x50000, 0x10)]);
///
/// // With room for one range only, it fails as C does for a full `iovec` array.
/// assert_eq!(mem.translate(0x1ff0, 0x20, 1, |_, _| Ok(())), Err(ENOBUFS));
///
/// // Past the last region there is nothing.
/// assert_eq!(mem.pieces(0x2ff0, 0x20), Err(EFAULT));
/// # Ok::<(), Error>(())
/// ```
pub struct MemTable {
    regions: KVec<Region>,
}

impl MemTable {
    /// An empty table, in which every translation fails with `EFAULT`.
    pub const fn new() -> Self {
        // INVARIANT: No regions.
        Self {
            regions: KVec::new(),
        }
    }

    /// Checks `r` and inserts it after the regions that start at or below it.
    ///
    /// `regions` must have room for `r`.
    fn insert(regions: &mut KVec<Region>, r: Region) -> Result {
        if r.size == 0
            || r.gpa.checked_add(r.size - 1).is_none()
            || r.uaddr.checked_add(r.size - 1).is_none()
        {
            return Err(EFAULT);
        }
        let at = regions.partition_point(|x| x.gpa <= r.gpa);
        // Cannot fail: `at <= len`, and the caller made room.
        regions.insert_within_capacity(at, r).map_err(|_| ENOMEM)
    }

    /// A table of `regions`, given in any order, of at most `max` regions.
    ///
    /// Fails with `E2BIG` for more than `max` regions, and with `EFAULT` for an empty region or
    /// one whose last driver or user address does not fit in a `u64`.
    ///
    /// C takes two of these: an empty region at driver address 0, which C maps to the whole
    /// 64-bit space, and a region whose user addresses wrap, which C refuses only for the rings
    /// of a running queue (`memory_access_ok()`). No copy could use either.
    pub fn from_regions(regions: &[Region], max: usize, flags: Flags) -> Result<Self> {
        if regions.len() > max {
            return Err(E2BIG);
        }
        let mut v = KVec::with_capacity(regions.len(), flags)?;
        for r in regions {
            Self::insert(&mut v, *r)?;
        }
        // INVARIANT: Each region was checked and inserted in order by `insert`.
        Ok(Self { regions: v })
    }

    /// Reads a `struct vhost_memory` and its regions at `arg` in the current task's memory, as
    /// `VHOST_SET_MEM_TABLE` passes it, and makes a table of at most `max` regions.
    ///
    /// The errnos are `vhost_set_memory()`'s: `EFAULT` for memory that cannot be read,
    /// `EOPNOTSUPP` for non-zero padding, `E2BIG` for more than `max` regions, and those of
    /// [`MemTable::from_regions`]. It does not check that the user ranges are accessible: C
    /// checks that only for the rings of a running queue, and every copy checks its own access.
    pub fn from_user(arg: UserPtr, max: usize, flags: Flags) -> Result<Self> {
        let mut r = UserSlice::new(arg, usize::MAX).reader();
        let nregions = r.read::<u32>()?;
        if r.read::<u32>()? != 0 {
            return Err(EOPNOTSUPP);
        }
        let n = usize::try_from(nregions).map_err(|_| E2BIG)?;
        if n > max {
            return Err(E2BIG);
        }
        let mut v = KVec::with_capacity(n, flags)?;
        for _ in 0..n {
            let raw = r.read::<RawRegion>()?;
            let region = Region {
                gpa: raw.guest_phys_addr,
                size: raw.memory_size,
                uaddr: raw.userspace_addr,
            };
            Self::insert(&mut v, region)?;
        }
        // INVARIANT: Each region was checked and inserted in order by `insert`.
        Ok(Self { regions: v })
    }

    /// The regions, sorted by driver address.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region that holds driver address `gpa`: of those that do, the one that starts lowest,
    /// and of those, the one given first.
    #[inline]
    pub fn region_at(&self, gpa: u64) -> Option<&Region> {
        // Sorted by start: the first region that holds `gpa` starts lowest, and none that
        // starts past `gpa` can hold it.
        self.regions
            .iter()
            .take_while(|r| r.gpa <= gpa)
            .find(|r| r.holds(gpa))
    }

    /// Translates the `len` bytes at driver address `gpa` into at most `limit` user address
    /// ranges, one for each region they touch, in order, and calls `f` with the user address
    /// and length of each. Returns how many ranges there were.
    ///
    /// Fails as C's `translate_desc()` does: with `ENOBUFS` when the bytes need more than
    /// `limit` ranges (C's full `iovec` array), checked before the next lookup as in C, and
    /// with `EFAULT` if a byte is in no region. Fails with what `f` fails with. Zero bytes make
    /// no range, and are not looked up.
    ///
    /// C computes the last byte modulo 2^64, so a buffer that runs past the top of the address
    /// space can go on at address 0 there. Here such a buffer fails with `EFAULT`.
    #[inline]
    pub fn translate(
        &self,
        gpa: u64,
        len: u64,
        limit: usize,
        mut f: impl FnMut(u64, u64) -> Result,
    ) -> Result<usize> {
        let (mut at, mut left, mut n) = (gpa, len, 0usize);
        while left > 0 {
            if n >= limit {
                return Err(ENOBUFS);
            }
            let r = self.region_at(at).ok_or(EFAULT)?;
            let off = at - r.gpa;
            // At least 1, as `r` holds `at`.
            let piece = left.min(r.size - off);
            // No overflow: `off < size`, and `uaddr + size - 1` fits by the type invariant.
            f(r.uaddr + off, piece)?;
            n += 1;
            left -= piece;
            if left > 0 {
                // Bytes past the top of the address space are in no region.
                at = at.checked_add(piece).ok_or(EFAULT)?;
            }
        }
        Ok(n)
    }

    /// How many user address ranges [`MemTable::translate`] makes of the `len` bytes at driver
    /// address `gpa`, with no limit.
    #[inline]
    pub fn pieces(&self, gpa: u64, len: u64) -> Result<usize> {
        self.translate(gpa, len, usize::MAX, |_, _| Ok(()))
    }

    /// Copies `buf.len()` bytes at driver address `gpa` from the current task's memory, range
    /// by range across the regions they span. For data that the device must read whole, such
    /// as an indirect descriptor table.
    ///
    /// Fails with `EFAULT` if a byte is in no region or cannot be read; `buf` may then be
    /// partly written.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result {
        let len = u64::try_from(buf.len()).map_err(|_| EFAULT)?;
        let mut rest = buf;
        self.translate(gpa, len, usize::MAX, |uaddr, n| {
            let n = usize::try_from(n).map_err(|_| EFAULT)?;
            let uaddr = usize::try_from(uaddr).map_err(|_| EFAULT)?;
            // The ranges add up to `buf.len()`, so `n` bytes are left; checked all the same.
            let (head, tail) = core::mem::take(&mut rest)
                .split_at_mut_checked(n)
                .ok_or(EFAULT)?;
            UserSlice::new(UserPtr::from_addr(uaddr), n)
                .reader()
                .read_slice(head)?;
            rest = tail;
            Ok(())
        })?;
        Ok(())
    }
}

impl Default for MemTable {
    fn default() -> Self {
        Self::new()
    }
}

#[macros::kunit_tests(rust_vhost_mem)]
mod tests {
    use super::*;

    fn table(regions: &[Region]) -> Result<MemTable> {
        MemTable::from_regions(regions, MAX_REGIONS, GFP_KERNEL)
    }

    fn ranges(mem: &MemTable, gpa: u64, len: u64) -> Result<KVec<(u64, u64)>> {
        let mut v = KVec::new();
        mem.translate(gpa, len, usize::MAX, |uaddr, n| {
            Ok(v.push((uaddr, n), GFP_KERNEL)?)
        })?;
        Ok(v)
    }

    const fn reg(gpa: u64, size: u64, uaddr: u64) -> Region {
        Region { gpa, size, uaddr }
    }

    #[test]
    fn refuses_what_c_refuses() -> Result {
        assert_eq!(table(&[reg(0x1000, 0, 0x1000)]).err(), Some(EFAULT));
        assert_eq!(table(&[reg(u64::MAX, 2, 0x1000)]).err(), Some(EFAULT));
        let many = [reg(0, 1, 0); MAX_REGIONS + 1];
        assert_eq!(table(&many).err(), Some(E2BIG));
        assert!(table(&many[..MAX_REGIONS]).is_ok());
        // The limit is the caller's, as C's is a module parameter.
        assert!(MemTable::from_regions(&many, MAX_REGIONS + 1, GFP_KERNEL).is_ok());
        assert_eq!(
            MemTable::from_regions(&many[..2], 1, GFP_KERNEL).err(),
            Some(E2BIG)
        );
        // Regions that end at the very top are fine, as in C (`last` is `u64::MAX`).
        let top = table(&[reg(u64::MAX - 0xfff, 0x1000, u64::MAX - 0xfff)])?;
        assert_eq!(
            ranges(&top, u64::MAX - 0xf, 0x10)?[..],
            [(u64::MAX - 0xf, 0x10)]
        );
        Ok(())
    }

    #[test]
    fn refuses_more_than_c() -> Result {
        // C takes a region whose user addresses wrap, and refuses it only for a running ring.
        assert_eq!(
            table(&[reg(0, 0x1000, u64::MAX - 0xffe)]).err(),
            Some(EFAULT)
        );
        // C takes an empty region at 0 as the whole space.
        assert_eq!(table(&[reg(0, 0, 0x1000)]).err(), Some(EFAULT));
        // C wraps a buffer that runs past the top to address 0; here it faults.
        let both = table(&[
            reg(0, 0x1000, 0x1000),
            reg(u64::MAX - 0xfff, 0x1000, 0x5000),
        ])?;
        assert_eq!(both.pieces(u64::MAX - 0xf, 0x20), Err(EFAULT));
        Ok(())
    }

    #[test]
    fn translates_across_regions() -> Result {
        // Issue 16's case: a table at 0xff0 of 0x1020 bytes across A, B and C, where A and C
        // map to one user range and B to another. The middle must come from B's user range.
        let mem = table(&[
            reg(0x2000, 0x1000, 0x7000_2000),
            reg(0, 0x1000, 0x7000_0000),
            reg(0x1000, 0x1000, 0x9000_0000),
        ])?;
        let got = ranges(&mem, 0xff0, 0x1020)?;
        assert_eq!(
            got[..],
            [
                (0x7000_0ff0, 0x10),
                (0x9000_0000, 0x1000),
                (0x7000_2000, 0x10)
            ]
        );
        assert_eq!(mem.pieces(0, 0x3000)?, 3);
        assert_eq!(mem.pieces(0x10, 0x10)?, 1);
        // No bytes, no range, and no lookup: even outside every region.
        assert_eq!(mem.pieces(0x10_0000, 0)?, 0);
        Ok(())
    }

    #[test]
    fn holes_fault() -> Result {
        let mem = table(&[reg(0, 0x1000, 0x1_0000), reg(0x2000, 0x1000, 0x2_0000)])?;
        assert_eq!(mem.pieces(0xfff, 2), Err(EFAULT));
        assert_eq!(mem.pieces(0x1000, 1), Err(EFAULT));
        assert_eq!(mem.pieces(0x3000, 1), Err(EFAULT));
        assert_eq!(MemTable::new().pieces(0, 1), Err(EFAULT));
        Ok(())
    }

    #[test]
    fn overlaps_take_the_lowest_start() -> Result {
        // B lies inside A; every address of B belongs to A, which starts lower.
        let mem = table(&[reg(0x1000, 0x1000, 0xb000), reg(0, 0x4000, 0xa000)])?;
        assert_eq!(ranges(&mem, 0x1800, 0x10)?[..], [(0xa000 + 0x1800, 0x10)]);
        // C starts inside A and ends past it: past A's end, C is the lowest that holds it.
        let mem = table(&[reg(0x800, 0x1000, 0xc000), reg(0, 0x1000, 0xa000)])?;
        assert_eq!(
            ranges(&mem, 0xff0, 0x20)?[..],
            [(0xaff0, 0x10), (0xc000 + 0x800, 0x10)]
        );
        // Two that start at the same address: the first given wins, among more regions than
        // an unstable sort keeps in order.
        let mut many = KVec::new();
        for i in 0..MAX_REGIONS as u64 {
            let gpa = if i == 0 || i == 40 {
                0x10_0000
            } else {
                0x20_0000 + i * 0x1000
            };
            many.push(reg(gpa, 0x1000, 0x1000_0000 + i * 0x10_0000), GFP_KERNEL)?;
        }
        many.reverse();
        let mem = table(&many)?;
        assert_eq!(
            ranges(&mem, 0x10_0010, 1)?[..],
            [(0x1000_0000 + 40 * 0x10_0000 + 0x10, 1)]
        );
        Ok(())
    }

    #[test]
    fn stops_at_the_callers_error() -> Result {
        let mem = table(&[reg(0, 0x1000, 0x1_0000), reg(0x1000, 0x1000, 0x3_0000)])?;
        let mut calls = 0;
        let r = mem.translate(0, 0x2000, usize::MAX, |_, _| {
            calls += 1;
            Err(EINVAL)
        });
        assert_eq!(r, Err(EINVAL));
        assert_eq!(calls, 1);
        Ok(())
    }

    #[test]
    fn the_limit_comes_before_the_lookup() -> Result {
        // As in C: with the ranges used up, bytes that are in no region fail with ENOBUFS.
        let mem = table(&[reg(0, 0x1000, 0x1_0000), reg(0x1000, 0x1000, 0x3_0000)])?;
        assert_eq!(mem.translate(0xff0, 0x20, 1, |_, _| Ok(())), Err(ENOBUFS));
        assert_eq!(mem.translate(0xff0, 0x2000, 2, |_, _| Ok(())), Err(ENOBUFS));
        assert_eq!(mem.translate(0xff0, 0x20, 2, |_, _| Ok(())), Ok(2));
        assert_eq!(mem.translate(0x10, 0x10, 0, |_, _| Ok(())), Err(ENOBUFS));
        assert_eq!(mem.translate(0x10, 0, 0, |_, _| Ok(())), Ok(0));
        Ok(())
    }
}
