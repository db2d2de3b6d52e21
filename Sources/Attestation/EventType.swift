/// Event type names from the TCG PC Client Platform Firmware Profile (§10.4.1), so policies and
/// messages say `EV_EVENT_TAG` rather than `6`.
public enum EventType {
    /// `EV_NO_ACTION`: informational, never extended into a PCR.
    public static let noAction: UInt32 = 0x0000_0003
    /// `EV_EVENT_TAG`: a tagged event; the Linux EFI stub uses it for the initrd and the command line.
    public static let eventTag: UInt32 = 0x0000_0006
    /// `EV_EFI_BOOT_SERVICES_APPLICATION`: a UEFI application (boot loader or kernel) and its Authenticode digest.
    public static let efiBootServicesApplication: UInt32 = 0x8000_0003

    /// Every named type, name to value.
    public static let values: [String: UInt32] = [
        "EV_PREBOOT_CERT": 0x0, "EV_POST_CODE": 0x1, "EV_UNUSED": 0x2, "EV_NO_ACTION": 0x3,
        "EV_SEPARATOR": 0x4, "EV_ACTION": 0x5, "EV_EVENT_TAG": 0x6, "EV_S_CRTM_CONTENTS": 0x7,
        "EV_S_CRTM_VERSION": 0x8, "EV_CPU_MICROCODE": 0x9, "EV_PLATFORM_CONFIG_FLAGS": 0xA,
        "EV_TABLE_OF_DEVICES": 0xB, "EV_COMPACT_HASH": 0xC, "EV_IPL": 0xD, "EV_IPL_PARTITION_DATA": 0xE,
        "EV_NONHOST_CODE": 0xF, "EV_NONHOST_CONFIG": 0x10, "EV_NONHOST_INFO": 0x11,
        "EV_OMIT_BOOT_DEVICE_EVENTS": 0x12, "EV_POST_CODE2": 0x13,
        "EV_EFI_EVENT_BASE": 0x8000_0000, "EV_EFI_VARIABLE_DRIVER_CONFIG": 0x8000_0001,
        "EV_EFI_VARIABLE_BOOT": 0x8000_0002, "EV_EFI_BOOT_SERVICES_APPLICATION": 0x8000_0003,
        "EV_EFI_BOOT_SERVICES_DRIVER": 0x8000_0004, "EV_EFI_RUNTIME_SERVICES_DRIVER": 0x8000_0005,
        "EV_EFI_GPT_EVENT": 0x8000_0006, "EV_EFI_ACTION": 0x8000_0007,
        "EV_EFI_PLATFORM_FIRMWARE_BLOB": 0x8000_0008, "EV_EFI_HANDOFF_TABLES": 0x8000_0009,
        "EV_EFI_PLATFORM_FIRMWARE_BLOB2": 0x8000_000A, "EV_EFI_HANDOFF_TABLES2": 0x8000_000B,
        "EV_EFI_VARIABLE_BOOT2": 0x8000_000C, "EV_EFI_GPT_EVENT2": 0x8000_000D,
        "EV_EFI_HCRTM_EVENT": 0x8000_0010, "EV_EFI_VARIABLE_AUTHORITY": 0x8000_00E0,
        "EV_EFI_SPDM_FIRMWARE_BLOB": 0x8000_00E1, "EV_EFI_SPDM_FIRMWARE_CONFIG": 0x8000_00E2,
    ]

    private static let names: [UInt32: String] = Dictionary(uniqueKeysWithValues: values.map { ($0.value, $0.key) })

    /// The spec's name for a type, or `nil` when it has none.
    /// - Parameter type: the event type.
    public static func name(of type: UInt32) -> String? { names[type] }

    /// The name, or `0x…` for unnamed types.
    /// - Parameter type: the event type.
    public static func display(_ type: UInt32) -> String {
        names[type] ?? "0x" + String(type, radix: 16)
    }

    /// Reads a type as a policy writes it: a name (any case) or a number (decimal or `0x` hex).
    /// - Parameter text: the policy's text.
    /// - Returns: the type, or `nil` when it is neither a known name nor a 32-bit number.
    public static func parse(_ text: String) -> UInt32? {
        if let value = values[text.uppercased()] { return value }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt32(text.dropFirst(2), radix: 16) }
        return UInt32(text)
    }
}
