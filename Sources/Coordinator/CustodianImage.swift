import Foundation
import ShardCrypto

/// A built custodian image: `vmlinuz`, `initrd.img` and the `measurements.json` that
/// `vm-images/build-image` wrote beside them. The command line and memory size come from the
/// measurements because both are measured (PCR 9, and PCR 4 through QEMU's header patch): a
/// domain booted with other values would never satisfy the image's policy.
///
/// The measurements describe the image, not a deployment: its base command line carries no pins.
/// Each custodian boots with the base command line plus the pins (``CustodianPins``), and the
/// coordinator derives that boot's PCR 9 from the initrd digest recorded here and the exact
/// command line (``CustodianBootPolicy``); PCR 4 is the image's prediction, which the command
/// line does not change.
public struct CustodianImage: Sendable, Hashable {
    /// A PCR as `measure.py predict` predicted it.
    public struct PredictedPCR: Sendable, Hashable {
        /// One predicted event, in log order.
        public struct Event: Sendable, Hashable {
            /// The TCG name of the event type (`EV_EVENT_TAG`, …).
            public let type: String
            /// The tagged event's tag (`Linux initrd`, `LOADED_IMAGE::LoadOptions`), if any.
            public let tag: String?
            /// The SHA-256 digest extended.
            public let digest: [UInt8]
        }

        /// The PCR's predicted SHA-256 value.
        public let value: [UInt8]
        /// The events extended into it, in order.
        public let events: [Event]
    }

    /// The kernel.
    public let kernelPath: String
    /// The initramfs.
    public let initrdPath: String
    /// The image's base kernel command line (without pins), as it was measured.
    public let commandLine: String
    /// The guest memory in MiB the PCR 4 prediction assumes.
    public let memoryMiB: Int
    /// `keyshard-agent`, or `test-fixture` for images that must never hold a share.
    public let agentKind: String
    /// SHA-256 of `initrd.img` when it was built: what the EFI stub's `Linux initrd` event must carry.
    public let initrdSHA256: [UInt8]
    /// The predicted PCR 4 (kernel as QEMU patched it, boot action, separator); independent of the
    /// command line.
    public let pcr4: PredictedPCR

    /// Reads an image directory.
    /// - Parameter directory: the directory with `vmlinuz`, `initrd.img` and `measurements.json`.
    /// - Throws: ``CoordinatorError/Code/invalidImage`` naming the missing file or field.
    public init(directory: String) throws(CoordinatorError) {
        let base = URL(fileURLWithPath: directory)
        let kernel = base.appendingPathComponent("vmlinuz").path
        let initrd = base.appendingPathComponent("initrd.img").path
        for path in [kernel, initrd] where !FileManager.default.isReadableFile(atPath: path) {
            throw CoordinatorError(.invalidImage, "\(path) is missing: build the image with `make image`")
        }
        let measurementsPath = base.appendingPathComponent("measurements.json").path
        guard let data = FileManager.default.contents(atPath: measurementsPath), data.count <= 1 << 20 else {
            throw CoordinatorError(.invalidImage, "\(measurementsPath) is missing or too large")
        }
        let document: MeasurementsDocument
        do {
            document = try JSONDecoder().decode(MeasurementsDocument.self, from: data)
        } catch {
            throw CoordinatorError(.invalidImage, "\(measurementsPath) is not an image measurements document: \(error)")
        }
        func invalid(_ reason: String) -> CoordinatorError {
            CoordinatorError(.invalidImage, "\(measurementsPath) \(reason)")
        }
        guard document.format == "keyshard-image-measurements/v1" else {
            throw invalid("has format \(document.format), not keyshard-image-measurements/v1")
        }
        guard document.bank == "sha256" else { throw invalid("predicts the \(document.bank) bank, not sha256") }
        guard (64...(1 << 20)).contains(document.image.memoryMiB) else {
            throw invalid("gives \(document.image.memoryMiB) MiB of memory")
        }
        guard let initrdDigest = [UInt8](hexString: document.image.initrd.sha256), initrdDigest.count == 32 else {
            throw invalid("has no SHA-256 of the initrd")
        }
        // A document predicted with pins describes one deployment's boot; the launcher adds its own.
        let commandLine = document.image.baseCmdline ?? document.image.cmdline
        if let pinned = CustodianPins.parameterNames.first(where: { name in
            commandLine.split(separator: " ").contains { $0.hasPrefix(name + "=") }
        }) {
            throw invalid("has \(pinned)= in its base command line: predict the image without pins")
        }
        guard let pcr4 = document.pcrs["4"], pcr4.status == "predicted", let value = pcr4.value,
              let pcr4Value = [UInt8](hexString: value), pcr4Value.count == 32
        else {
            throw invalid("has no predicted PCR 4: this launcher boots images whose PCR 4 measure.py predicts")
        }
        var events: [PredictedPCR.Event] = []
        for event in pcr4.events ?? [] {
            guard let digest = [UInt8](hexString: event.digest), digest.count == 32 else {
                throw invalid("has a PCR 4 event without a SHA-256 digest")
            }
            events.append(.init(type: event.type, tag: event.tag, digest: digest))
        }
        self.kernelPath = kernel
        self.initrdPath = initrd
        self.commandLine = commandLine
        self.memoryMiB = document.image.memoryMiB
        self.agentKind = document.image.agent.kind
        self.initrdSHA256 = initrdDigest
        self.pcr4 = PredictedPCR(value: pcr4Value, events: events)
    }
}

/// The parts of `measurements.json` (`vm-images/measure.py predict`) the coordinator reads.
private struct MeasurementsDocument: Decodable {
    struct Image: Decodable {
        struct Agent: Decodable { let kind: String }
        struct Digest: Decodable { let sha256: String }
        let cmdline: String
        let baseCmdline: String?
        let memoryMiB: Int
        let agent: Agent
        let initrd: Digest
    }
    struct PCR: Decodable {
        struct Event: Decodable {
            let type: String
            let tag: String?
            let digest: String
        }
        let status: String
        let value: String?
        let events: [Event]?
    }
    let format: String
    let bank: String
    let image: Image
    let pcrs: [String: PCR]
}
