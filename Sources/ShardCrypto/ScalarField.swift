internal import COpenSSL

/// Fixed-width, constant-time arithmetic modulo the P-256 group order
/// n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551, the
/// field that every ``Scalar`` lives in.
///
/// Elements are four 64-bit limbs in Montgomery form (a·R mod n, R = 2²⁵⁶),
/// always fully reduced. Every operation runs the same instructions on the same
/// memory whatever the values: no branch, early exit or memory index depends on
/// an element. Carries and borrows are turned into all-zero or all-one masks,
/// and a conditional subtraction is a masked select. The masks pass through
/// `COpenSSL_value_barrier_u64`, so the optimizer cannot see that they are 0 or
/// −1 and re-form a branch. Only public values (loop counts, the bits of the
/// public exponent n − 2, input lengths) decide control flow.
enum ScalarField {
    /// One field element in Montgomery form, limbs least significant first.
    ///
    /// A value type: Swift may copy it to registers, the stack or the heap where
    /// nothing wipes it. Buffers this file fills itself (byte encodings, the
    /// inversion table) are cleansed before they are released.
    struct Element: Sendable {
        var w0: UInt64
        var w1: UInt64
        var w2: UInt64
        var w3: UInt64

        @inline(__always)
        init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
            self.w0 = w0
            self.w1 = w1
            self.w2 = w2
            self.w3 = w3
        }

        /// Zero (also zero in Montgomery form).
        static var zero: Element { Element(0, 0, 0, 0) }
        /// One in Montgomery form: R mod n = 2²⁵⁶ − n.
        static var one: Element { Element(0x0C46_353D_039C_DAAF, 0x4319_0552_58E8_617B, 0, 0x0000_0000_FFFF_FFFF) }
    }

    // The order n, least significant limb first. Computed properties rather than
    // stored globals, so every use is an immediate and no lazy initialization runs.
    @inline(__always) static var n0: UInt64 { 0xF3B9_CAC2_FC63_2551 }
    @inline(__always) static var n1: UInt64 { 0xBCE6_FAAD_A717_9E84 }
    @inline(__always) static var n2: UInt64 { 0xFFFF_FFFF_FFFF_FFFF }
    @inline(__always) static var n3: UInt64 { 0xFFFF_FFFF_0000_0000 }

    /// −n⁻¹ mod 2⁶⁴, the Montgomery reduction constant (the tests check n0·n′ ≡ −1).
    @inline(__always) static var nPrime: UInt64 { 0xCCD1_C8AA_EE00_BC4F }

    /// R² mod n = 2⁵¹² mod n, as plain limbs: Montgomery-multiplying a plain value
    /// by it gives the value's Montgomery form (the tests check it against BIGNUM).
    @inline(__always) static var rSquared: Element {
        Element(0x8324_4C95_BE79_EEA2, 0x4699_799C_49BD_6FA6, 0x2845_B239_2B6B_EC59, 0x66E1_2D94_F3D9_5620)
    }

    // MARK: - Word primitives

    /// 1 for `true`, 0 for `false`, by reinterpreting the Bool's byte: no branch
    /// even without optimization (a ternary would compile to one at -Onone).
    @inline(__always)
    static func word(_ flag: Bool) -> UInt64 {
        UInt64(truncatingIfNeeded: unsafeBitCast(flag, to: UInt8.self))
    }

    /// 0 → 0, 1 → all ones, hidden from the optimizer.
    @inline(__always)
    static func mask(_ bit: UInt64) -> UInt64 {
        COpenSSL_value_barrier_u64(0 &- bit)
    }

    /// a + b + carry, carry ∈ {0, 1}: the sum and the carry out.
    @inline(__always)
    static func adc(_ a: UInt64, _ b: UInt64, _ carry: UInt64) -> (UInt64, UInt64) {
        let (s1, o1) = a.addingReportingOverflow(b)
        let (s2, o2) = s1.addingReportingOverflow(carry)
        return (s2, word(o1) | word(o2))  // at most one of the two additions overflows
    }

    /// a − b − borrow, borrow ∈ {0, 1}: the difference and the borrow out.
    @inline(__always)
    static func sbb(_ a: UInt64, _ b: UInt64, _ borrow: UInt64) -> (UInt64, UInt64) {
        let (d1, o1) = a.subtractingReportingOverflow(b)
        let (d2, o2) = d1.subtractingReportingOverflow(borrow)
        return (d2, word(o1) | word(o2))
    }

    /// a + b·c + carry as (low, high). Never overflows 128 bits:
    /// (2⁶⁴−1)² + 2·(2⁶⁴−1) = 2¹²⁸ − 1.
    @inline(__always)
    static func mac(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ carry: UInt64) -> (UInt64, UInt64) {
        let (high, low) = b.multipliedFullWidth(by: c)
        let (l1, o1) = low.addingReportingOverflow(a)
        let (l2, o2) = l1.addingReportingOverflow(carry)
        return (l2, high &+ word(o1) &+ word(o2))
    }

    /// `a` where `choice` is 1, `b` where it is 0, limb by limb through a hidden mask.
    @inline(__always)
    static func select(_ choice: UInt64, _ a: Element, _ b: Element) -> Element {
        let m = mask(choice)
        return Element(
            (a.w0 & m) | (b.w0 & ~m), (a.w1 & m) | (b.w1 & ~m), (a.w2 & m) | (b.w2 & ~m), (a.w3 & m) | (b.w3 & ~m))
    }

    /// Subtracts n from the 257-bit value `carry`·2²⁵⁶ + `v` when that value is at
    /// least n; `v` plus the carry must be below 2n.
    @inline(__always)
    static func reduceOnce(_ v: Element, carry: UInt64) -> Element {
        var borrow: UInt64
        var d = Element.zero
        (d.w0, borrow) = sbb(v.w0, n0, 0)
        (d.w1, borrow) = sbb(v.w1, n1, borrow)
        (d.w2, borrow) = sbb(v.w2, n2, borrow)
        (d.w3, borrow) = sbb(v.w3, n3, borrow)
        (_, borrow) = sbb(carry, 0, borrow)
        // borrow = 1 exactly when the value was below n: keep it, else take v − n.
        return select(borrow, v, d)
    }

    // MARK: - Arithmetic

    /// (a + b) mod n.
    @inline(__always)
    static func add(_ a: Element, _ b: Element) -> Element {
        var carry: UInt64
        var s = Element.zero
        (s.w0, carry) = adc(a.w0, b.w0, 0)
        (s.w1, carry) = adc(a.w1, b.w1, carry)
        (s.w2, carry) = adc(a.w2, b.w2, carry)
        (s.w3, carry) = adc(a.w3, b.w3, carry)
        return reduceOnce(s, carry: carry)
    }

    /// (a − b) mod n: the raw difference, plus n under the mask of the borrow.
    @inline(__always)
    static func subtract(_ a: Element, _ b: Element) -> Element {
        var borrow: UInt64
        var d = Element.zero
        (d.w0, borrow) = sbb(a.w0, b.w0, 0)
        (d.w1, borrow) = sbb(a.w1, b.w1, borrow)
        (d.w2, borrow) = sbb(a.w2, b.w2, borrow)
        (d.w3, borrow) = sbb(a.w3, b.w3, borrow)
        let m = mask(borrow)
        var carry: UInt64
        (d.w0, carry) = adc(d.w0, n0 & m, 0)
        (d.w1, carry) = adc(d.w1, n1 & m, carry)
        (d.w2, carry) = adc(d.w2, n2 & m, carry)
        (d.w3, _) = adc(d.w3, n3 & m, carry)
        return d
    }

    /// (−a) mod n; zero stays zero.
    @inline(__always)
    static func negate(_ a: Element) -> Element { subtract(.zero, a) }

    /// One CIOS round: t ← (t + a·b + m·n) / 2⁶⁴ with m chosen to clear the low limb.
    @inline(__always)
    static func montgomeryRound(_ t: inout (UInt64, UInt64, UInt64, UInt64, UInt64), _ a: Element, _ b: UInt64) {
        var c: UInt64
        var u0: UInt64, u1: UInt64, u2: UInt64, u3: UInt64
        (u0, c) = mac(t.0, a.w0, b, 0)
        (u1, c) = mac(t.1, a.w1, b, c)
        (u2, c) = mac(t.2, a.w2, b, c)
        (u3, c) = mac(t.3, a.w3, b, c)
        let (u4, u5) = adc(t.4, c, 0)
        let m = u0 &* nPrime
        (_, c) = mac(u0, m, n0, 0)  // low limb becomes zero by the choice of m
        (t.0, c) = mac(u1, m, n1, c)
        (t.1, c) = mac(u2, m, n2, c)
        (t.2, c) = mac(u3, m, n3, c)
        (t.3, c) = adc(u4, c, 0)
        t.4 = u5 &+ c
    }

    /// Montgomery multiplication a·b·R⁻¹ mod n (coarsely integrated operand
    /// scanning). Correct, and fully reduced, whenever a·b < R·n: in particular
    /// for any a < 2²⁵⁶ when b < n, which `fromPlain` relies on.
    @inline(__always)
    static func montgomeryMultiply(_ a: Element, _ b: Element) -> Element {
        var t: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        montgomeryRound(&t, a, b.w0)
        montgomeryRound(&t, a, b.w1)
        montgomeryRound(&t, a, b.w2)
        montgomeryRound(&t, a, b.w3)
        // t < 2n here, so t.4 ∈ {0, 1} and one conditional subtraction reduces it.
        return reduceOnce(Element(t.0, t.1, t.2, t.3), carry: t.4)
    }

    /// (a·b) mod n for elements in Montgomery form.
    @inline(__always)
    static func multiply(_ a: Element, _ b: Element) -> Element { montgomeryMultiply(a, b) }

    /// The Montgomery form of a plain 256-bit value (any value below 2²⁵⁶, reduced mod n).
    @inline(__always)
    static func fromPlain(_ plain: Element) -> Element { montgomeryMultiply(plain, rSquared) }

    /// The plain, canonical value (< n) of an element.
    @inline(__always)
    static func toPlain(_ element: Element) -> Element { montgomeryMultiply(element, Element(1, 0, 0, 0)) }

    /// a^(n−2) = a⁻¹ mod n (Fermat), zero for zero.
    ///
    /// A fixed 4-bit window over the public exponent: 15 table products, then
    /// for each of the remaining 63 nibbles four squarings and, where the public
    /// nibble is non-zero, one multiplication. Every input runs the same sequence;
    /// the table is indexed only by exponent nibbles, never by the secret.
    static func inverse(_ a: Element) -> Element {
        withUnsafeTemporaryAllocation(of: Element.self, capacity: 16) { table in
            table.initialize(repeating: .one)
            defer { OPENSSL_cleanse(UnsafeMutableRawPointer(table.baseAddress!), 16 * MemoryLayout<Element>.stride) }
            table[1] = a
            for i in 2..<16 { table[i] = multiply(table[i - 1], a) }
            var result = table[exponentNibble(63)]
            for position in stride(from: 62, through: 0, by: -1) {
                result = multiply(result, result)
                result = multiply(result, result)
                result = multiply(result, result)
                result = multiply(result, result)
                let digit = exponentNibble(position)  // public: a nibble of n − 2
                if digit != 0 { result = multiply(result, table[digit]) }
            }
            return result
        }
    }

    /// Nibble `position` (0 = least significant) of the public exponent n − 2.
    @inline(__always)
    static func exponentNibble(_ position: Int) -> Int {
        let limb: UInt64
        switch position / 16 {
        case 0: limb = n0 &- 2  // n0 is odd and far above 2: no borrow into n1
        case 1: limb = n1
        case 2: limb = n2
        default: limb = n3
        }
        return Int(truncatingIfNeeded: (limb >> UInt64(4 * (position % 16))) & 0xF)
    }

    // MARK: - Predicates

    /// 1 when the element is zero, else 0, without branching on the limbs.
    @inline(__always)
    static func isZero(_ a: Element) -> UInt64 {
        let any = COpenSSL_value_barrier_u64(a.w0 | a.w1 | a.w2 | a.w3)
        // (x | −x) has its top bit set exactly when x ≠ 0.
        return 1 ^ ((any | (0 &- any)) >> 63)
    }

    /// 1 when the elements are equal, else 0: all limbs are compared, always.
    @inline(__always)
    static func equal(_ a: Element, _ b: Element) -> UInt64 {
        isZero(Element(a.w0 ^ b.w0, a.w1 ^ b.w1, a.w2 ^ b.w2, a.w3 ^ b.w3))
    }

    // MARK: - Encodings

    /// Reads 32 big-endian bytes as plain limbs, and whether the value is below n
    /// (1) or not (0), computed from the borrow of value − n rather than by comparing.
    @inline(__always)
    static func decodePlain(_ bytes: UnsafeRawBufferPointer) -> (value: Element, isBelowOrder: UInt64) {
        precondition(bytes.count == 32)
        let v = Element(
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        var borrow: UInt64
        (_, borrow) = sbb(v.w0, n0, 0)
        (_, borrow) = sbb(v.w1, n1, borrow)
        (_, borrow) = sbb(v.w2, n2, borrow)
        (_, borrow) = sbb(v.w3, n3, borrow)
        return (v, borrow)
    }

    /// Decodes 32 big-endian bytes into Montgomery form, with the "below n" flag.
    /// A value ≥ n still decodes (to itself mod n), so the work does not depend on
    /// the flag; the caller decides, from the flag, whether to refuse it.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> (element: Element, isBelowOrder: UInt64) {
        let (plain, below) = decodePlain(bytes)
        return (fromPlain(plain), below)
    }

    /// Writes the canonical 32-byte big-endian encoding.
    static func encode(_ element: Element, into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count == 32)
        let plain = toPlain(element)
        bytes.storeBytes(of: plain.w3.bigEndian, toByteOffset: 0, as: UInt64.self)
        bytes.storeBytes(of: plain.w2.bigEndian, toByteOffset: 8, as: UInt64.self)
        bytes.storeBytes(of: plain.w1.bigEndian, toByteOffset: 16, as: UInt64.self)
        bytes.storeBytes(of: plain.w0.bigEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// Reduces a big-endian integer of any length modulo n.
    ///
    /// Horner's rule over 32-byte chunks, most significant first:
    /// acc ← acc·2²⁵⁶ + chunk. In Montgomery form that is
    /// acc ← mont(acc, R²) + mont(chunk, R²), since mont(x, R²) = x·R. A chunk
    /// may be ≥ n; `montgomeryMultiply` reduces any value below 2²⁵⁶ because R² < n.
    /// The number of chunks depends only on the (public) length. A short leading
    /// chunk is zero-padded in a stack buffer that is cleansed afterwards.
    static func reduce(bigEndian bytes: UnsafeRawBufferPointer) -> Element {
        let count = bytes.count
        guard count > 0 else { return .zero }
        let leading = (count - 1) % 32 + 1  // bytes in the first, possibly short, chunk
        var accumulator = withUnsafeTemporaryAllocation(byteCount: 32, alignment: 8) { padded in
            padded.initializeMemory(as: UInt8.self, repeating: 0)
            defer { OPENSSL_cleanse(padded.baseAddress, 32) }
            UnsafeMutableRawBufferPointer(rebasing: padded[(32 - leading)...])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<leading]))
            return fromPlain(decodePlain(UnsafeRawBufferPointer(padded)).value)
        }
        var offset = leading
        while offset < count {
            let chunk = decodePlain(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 32)])).value
            accumulator = add(montgomeryMultiply(accumulator, rSquared), fromPlain(chunk))
            offset += 32
        }
        return accumulator
    }
}
