import Foundation

/// A built custodian image: `vmlinuz`, `initrd.img` and the `measurements.json` that
/// `vm-images/build-image` wrote beside them. The command line and memory size come from the
/// measurements because both are measured (PCR 9, and PCR 4 through QEMU's header patch): a
/// domain booted with other values would never satisfy the image's policy.
public struct CustodianImage: Sendable, Hashable {
    /// The kernel.
    public let kernelPath: String
    /// The initramfs.
    public let initrdPath: String
    /// The kernel command line the image was measured with.
    public let commandLine: String
    /// The guest memory in MiB the PCR 4 prediction assumes.
    public let memoryMiB: Int
    /// `keyshard-agent`, or `test-fixture` for images that must never hold a share.
    public let agentKind: String

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
        struct Document: Decodable {
            struct Image: Decodable {
                struct Agent: Decodable { let kind: String }
                let cmdline: String
                let memoryMiB: Int
                let agent: Agent
            }
            let format: String
            let image: Image
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw CoordinatorError(.invalidImage, "\(measurementsPath) is not an image measurements document: \(error)")
        }
        guard document.format == "keyshard-image-measurements/v1" else {
            throw CoordinatorError(.invalidImage, "\(measurementsPath) has format \(document.format), not keyshard-image-measurements/v1")
        }
        guard (64...(1 << 20)).contains(document.image.memoryMiB) else {
            throw CoordinatorError(.invalidImage, "\(measurementsPath) gives \(document.image.memoryMiB) MiB of memory")
        }
        self.kernelPath = kernel
        self.initrdPath = initrd
        self.commandLine = document.image.cmdline
        self.memoryMiB = document.image.memoryMiB
        self.agentKind = document.image.agent.kind
    }
}
