import Foundation
import ShardCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// Every byte pattern under which a 32-byte secret could sit in memory, in a file or in text.
///
/// Raw: big-endian (the wire and `serialized()` form), little-endian, and for scalars the
/// Montgomery limbs ``Scalar`` keeps in memory (x·R mod n, R = 2²⁵⁶, least significant limb
/// first on this little-endian machine) and the same value big-endian. A scan for the big-endian
/// bytes alone would miss every live `Scalar`, which is why those forms are here.
///
/// Text: lower- and upper-case hex (as UTF-8 and as UTF-16LE, the form an `NSString` may keep),
/// and base64, standard and URL-safe, at the three alignments a value can have inside a longer
/// encoded string. Inside a longer string only the characters whose six bits all come from the
/// secret are fixed, so each alignment contributes its *stable middle*: the characters that do
/// not depend on the bytes before or after.
struct SecretForms {
    /// One pattern: what it is, for failure messages, and its bytes.
    struct Needle {
        let form: String
        let bytes: [UInt8]
    }

    /// What the secret is (for messages): "the imported scalar", "share 2".
    let label: String
    /// The secret's 32 bytes, big-endian.
    let secret: [UInt8]
    /// Every pattern to search for.
    let needles: [Needle]

    /// The patterns of a 32-byte secret.
    /// - Parameters:
    ///   - label: what it is, for messages.
    ///   - secret: its bytes, big-endian.
    ///   - isScalar: whether to add the Montgomery forms (meaningless for a data key).
    init(_ label: String, secret: [UInt8], isScalar: Bool) {
        self.label = label
        self.secret = secret
        var needles = [
            Needle(form: "raw big-endian", bytes: secret), Needle(form: "raw little-endian", bytes: secret.reversed()),
        ]
        if isScalar, let scalar = try? Scalar(bigEndian: secret) {
            let montgomery = (scalar * Montgomery.r).serialized()
            needles.append(Needle(form: "Montgomery limbs (Scalar in memory)", bytes: montgomery.reversed()))
            needles.append(Needle(form: "Montgomery big-endian", bytes: montgomery))
        }
        let hex = Self.hex(secret)
        for (form, text) in [("hex", hex), ("upper-case hex", hex.uppercased())] {
            needles.append(Needle(form: form, bytes: Array(text.utf8)))
            needles.append(Needle(form: form + " as UTF-16", bytes: text.utf8.flatMap { [$0, 0] }))
        }
        for alignment in 0..<3 {
            let middle = Self.stableBase64(of: secret, alignment: alignment)
            needles.append(Needle(form: "base64 at alignment \(alignment)", bytes: Array(middle.utf8)))
            needles.append(Needle(form: "base64url at alignment \(alignment)", bytes: Array(Self.urlSafe(middle).utf8)))
        }
        self.needles = needles
    }

    /// The forms of a scalar.
    init(_ label: String, scalar: Scalar) { self.init(label, secret: scalar.serialized(), isScalar: true) }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func urlSafe(_ base64: String) -> String {
        base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// The base64 characters that encode only bits of `secret` when it starts `alignment` bytes
    /// (mod 3) into a longer encoded string: character k covers bits 6k…6k+5 of the stream, and
    /// is stable when those lie within the secret's bits.
    static func stableBase64(of secret: [UInt8], alignment: Int) -> String {
        let encoded = Array(Data([UInt8](repeating: 0, count: alignment) + secret + [0, 0, 0]).base64EncodedString())
        let first = 8 * alignment
        let end = 8 * (alignment + secret.count)
        let stable = encoded.indices.filter { 6 * $0 >= first && 6 * $0 + 6 <= end }
        return String(stable.map { encoded[$0] })
    }

    /// Text fragments of `length` characters of the hex and base64 forms, for error messages that
    /// might echo part of a value: any of them in a message means key material came back.
    func textFragments(length: Int) -> [String] {
        let hex = Self.hex(secret)
        var texts = [hex, hex.uppercased()]
        for alignment in 0..<3 {
            let middle = Self.stableBase64(of: secret, alignment: alignment)
            texts += [middle, Self.urlSafe(middle)]
        }
        var fragments = Set<String>()
        for text in texts {
            let characters = Array(text)
            guard characters.count >= length else { continue }
            for start in 0...(characters.count - length) {
                fragments.insert(String(characters[start..<(start + length)]))
            }
        }
        return fragments.sorted()
    }
}

/// R = 2²⁵⁶ mod n and its inverse, for the Montgomery form ``Scalar`` keeps its value in.
enum Montgomery {
    static let r = Scalar(reducing: [1] + [UInt8](repeating: 0, count: 32))
    static let rInverse = try! r.inverse()
}

/// A readable byte buffer with a name, for reports of where a pattern was found.
protocol ScannedBytes {
    /// Where the bytes come from: a file path, or a process and mapping.
    var origin: String { get }
    var bytes: [UInt8] { get }
}

/// glibc's memmem, which the Glibc module does not export (it is a GNU extension), looked up by
/// name: a two-way search, far faster than anything a debug build of Swift runs byte by byte.
private let memmem: @convention(c) (UnsafeRawPointer?, Int, UnsafeRawPointer?, Int) -> UnsafeMutableRawPointer? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memmem") else { fatalError("no memmem in libc") }
    return unsafeBitCast(
        symbol,
        to: (@convention(c) (UnsafeRawPointer?, Int, UnsafeRawPointer?, Int) -> UnsafeMutableRawPointer?).self
    )
}()

extension ScannedBytes {
    /// The offsets of `needle`, at any alignment.
    func offsets(of needle: [UInt8], limit: Int = 4) -> [Int] {
        guard !needle.isEmpty, bytes.count >= needle.count else { return [] }
        var found: [Int] = []
        bytes.withUnsafeBytes { haystack in
            needle.withUnsafeBytes { pattern in
                var start = 0
                while found.count < limit, start <= haystack.count - pattern.count,
                    let hit = memmem(
                        haystack.baseAddress! + start,
                        haystack.count - start,
                        pattern.baseAddress!,
                        pattern.count
                    )
                {
                    let offset = haystack.baseAddress!.distance(to: UnsafeRawPointer(hit))
                    found.append(offset)
                    start = offset + 1
                }
            }
        }
        return found
    }
}

/// One file's bytes.
struct ScannedFile: ScannedBytes {
    let origin: String
    let bytes: [UInt8]
}

/// One readable mapping of a live process, read through `/proc/PID/mem`.
struct MemoryRegion: ScannedBytes {
    let pid: pid_t
    let start: UInt64
    let permissions: String
    let path: String
    let bytes: [UInt8]

    var origin: String {
        "pid \(pid) \(String(start, radix: 16)) \(permissions) \(path.isEmpty ? "[anonymous]" : path)"
    }
    var isWritable: Bool { permissions.dropFirst().first == "w" }
}

/// A hit: which secret, in which form, where.
struct SecretSighting: CustomStringConvertible {
    let label: String
    let form: String
    let origin: String
    let offset: Int
    var description: String { "\(label) as \(form) in \(origin) at offset \(offset)" }
}

/// Where the patterns of `secrets` occur in `sources`; empty when none does.
func sightings(of secrets: [SecretForms], in sources: [any ScannedBytes]) -> [SecretSighting] {
    var found: [SecretSighting] = []
    for source in sources {
        for secret in secrets {
            for needle in secret.needles {
                for offset in source.offsets(of: needle.bytes, limit: 2) {
                    found.append(
                        SecretSighting(label: secret.label, form: needle.form, origin: source.origin, offset: offset)
                    )
                }
            }
        }
    }
    return found
}

/// The memory of a running process as a root attacker reads it: every readable mapping of
/// `/proc/PID/maps`, copied from `/proc/PID/mem`.
///
/// Why this and not `gcore`: it is what an attacker with root does, it needs no debugger, and it
/// reaches exactly what a core would hold (gcore itself reads `/proc/PID/mem` under ptrace).
/// `PR_SET_DUMPABLE 0` and `RLIMIT_CORE 0` (the agent's ProcessHardening) stop core files and
/// other users' ptrace; they do not stop root, which has CAP_SYS_PTRACE. The process keeps
/// running while it is read: stopping an agent would make it miss heartbeats and be replaced,
/// and a torn read of a page that changes meanwhile cannot hide a secret that stays put.
enum ProcessMemory {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Every readable mapping of `pid` except `[vvar]` and `[vsyscall]` (kernel pages that hold
    /// nothing of the process and that `/proc/PID/mem` refuses). Unreadable pages read as zeros.
    /// - Throws: when the maps or the memory cannot be opened at all (not root, no such process).
    static func regions(of pid: pid_t) throws -> [MemoryRegion] {
        guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else {
            throw Failure(description: "cannot read /proc/\(pid)/maps")
        }
        let descriptor = open("/proc/\(pid)/mem", O_RDONLY)
        guard descriptor >= 0 else {
            throw Failure(
                description: "cannot open /proc/\(pid)/mem: \(String(cString: strerror(errno))) (root needed)"
            )
        }
        defer { close(descriptor) }
        var regions: [MemoryRegion] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { continue }
            let bounds = fields[0].split(separator: "-")
            let permissions = String(fields[1])
            let path = fields.count > 5 ? fields[5].trimmingCharacters(in: .whitespaces) : ""
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
                permissions.first == "r", path != "[vvar]", path != "[vsyscall]", path != "[vvar_vclock]"
            else { continue }
            regions.append(
                MemoryRegion(
                    pid: pid,
                    start: start,
                    permissions: permissions,
                    path: path,
                    bytes: read(descriptor, from: start, count: Int(end - start))
                )
            )
        }
        guard !regions.isEmpty else { throw Failure(description: "no readable mapping in /proc/\(pid)/maps") }
        return regions
    }

    /// `count` bytes at `address`: whole chunks where they read, page by page where a chunk fails.
    private static func read(_ descriptor: Int32, from address: UInt64, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let chunk = 1 << 22
        let page = Int(getpagesize())
        bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < count {
                let length = min(chunk, count - done)
                if pread(descriptor, buffer.baseAddress! + done, length, off_t(address) + off_t(done)) == length {
                    done += length
                    continue
                }
                var inner = 0
                while inner < length {
                    _ = pread(
                        descriptor,
                        buffer.baseAddress! + done + inner,
                        min(page, length - inner),
                        off_t(address) + off_t(done + inner)
                    )
                    inner += page
                }
                done += length
            }
        }
        return bytes
    }
}

/// Finds the scalar behind a public point in a process's memory without anyone's word: every
/// 8-byte-aligned 32-byte window of the writable mappings that looks random is read as a scalar
/// three ways (Montgomery limbs as ``Scalar`` keeps it, little-endian, big-endian), multiplied by
/// G and compared with the targets. A share that passes this is a share by mathematics, not
/// because the daemon or the agent said so.
///
/// Bounded, not exhaustive: multiplying every window of a process by G would take hours, so
/// windows are taken at 8-byte alignment (where the limbs of a live `Scalar` and the start of a
/// heap buffer sit) and only when they look like 32 random bytes (at most three zero bytes,
/// at most three 0xff bytes, between 4 and 28 bytes with the top bit set: a uniform value fails
/// this with probability below 10⁻⁵, while pointers, counters, text and padding fail it at once).
/// It is used to *locate* shares; the search for them everywhere else is by exact value
/// (``SecretForms``), at every offset.
enum ShareLocator {
    /// A scalar found, where and in which form.
    struct Found {
        let scalar: Scalar
        let target: Int
        let form: String
        let origin: String
        let offset: Int
    }

    /// The first window of `regions` whose scalar times G is one of `targets`.
    /// - Returns: the hit and how many windows were multiplied.
    static func locate(_ targets: [Point], in regions: [MemoryRegion]) -> (found: Found?, multiplications: Int) {
        let wanted = Dictionary(
            uniqueKeysWithValues: targets.enumerated().compactMap { index, point in
                (try? point.compressed()).map { ($0, index) }
            }
        )
        var multiplications = 0
        func check(_ scalar: Scalar?) -> Int? {
            guard let scalar, !scalar.isZero else { return nil }
            multiplications += 1
            guard let encoded = try? Point.generatorMultiple(scalar).compressed() else { return nil }
            return wanted[encoded]
        }
        for region in regions where region.isWritable && region.bytes.count >= 32 {
            let words = region.bytes.count / 8
            // Per 8-byte word: zero bytes, 0xff bytes, bytes with the top bit set.
            var zeros = [UInt8](repeating: 0, count: words)
            var ones = [UInt8](repeating: 0, count: words)
            var high = [UInt8](repeating: 0, count: words)
            region.bytes.withUnsafeBytes { raw in
                for index in 0..<words {
                    let word = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                    zeros[index] = UInt8(zeroByteCount(word))
                    ones[index] = UInt8(zeroByteCount(~word))
                    high[index] = UInt8((word & 0x8080_8080_8080_8080).nonzeroBitCount)
                }
            }
            guard words >= 4 else { continue }
            for index in 0...(words - 4) {
                let zeroCount =
                    Int(zeros[index]) + Int(zeros[index + 1]) + Int(zeros[index + 2]) + Int(zeros[index + 3])
                guard zeroCount <= 3 else { continue }
                let oneCount = Int(ones[index]) + Int(ones[index + 1]) + Int(ones[index + 2]) + Int(ones[index + 3])
                guard oneCount <= 3 else { continue }
                let highCount = Int(high[index]) + Int(high[index + 1]) + Int(high[index + 2]) + Int(high[index + 3])
                guard (4...28).contains(highCount) else { continue }
                let window = Array(region.bytes[(8 * index)..<(8 * index + 32)])
                let littleEndian = try? Scalar(bigEndian: window.reversed())
                let candidates: [(String, Scalar?)] = [
                    ("Montgomery limbs", littleEndian.map { $0 * Montgomery.rInverse }),
                    ("little-endian", littleEndian),
                    ("big-endian", try? Scalar(bigEndian: window)),
                ]
                for (form, scalar) in candidates {
                    if let target = check(scalar), let scalar {
                        return (
                            Found(scalar: scalar, target: target, form: form, origin: region.origin, offset: 8 * index),
                            multiplications
                        )
                    }
                }
            }
        }
        return (nil, multiplications)
    }

    /// The number of zero bytes in `word` (the classic has-zero-byte trick, counted).
    private static func zeroByteCount(_ word: UInt64) -> Int {
        let low: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        let marked = ~(((word & low) &+ low) | word | low)
        return marked.nonzeroBitCount
    }
}

/// Every regular file under `directory`, read whole.
func filesUnder(_ directory: String) -> [ScannedFile] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    var files: [ScannedFile] = []
    for case let relative as String in enumerator {
        let path = directory + "/" + relative
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
            let data = FileManager.default.contents(atPath: path)
        else { continue }
        files.append(ScannedFile(origin: path, bytes: Array(data)))
    }
    return files
}
