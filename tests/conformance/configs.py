# configs.py - the LU configurations the conformance suite runs in, shared by run-suite and the pytest wrapper.

CONFIGS = {
    "thick": {},
    "thin": {"thin": True},
    "removable": {"removable": True},
    "readonly": {"read_only": True},
    # Every optional feature at once: the configuration that runs the most tests for real.
    "full": {"thin": True, "removable": True},
    # ReadOnly.ReadOnlySBC checks UNMAP and WRITE SAME with UNMAP too, which
    # only a thin LU offers: on the (fully provisioned) readonly LU it skips
    # that part.
    "readonly-thin": {"read_only": True, "thin": True},
}
# On a write-protected LU every test that writes fails with DATA PROTECT by
# design of the suite (only ReadOnly expects it), so the readonly
# configuration runs ReadOnly plus the suites that never write the medium.
SUITES = {
    "readonly": ["ReadOnly", "Inquiry", "Mandatory", "ModeSense6",
                 "TestUnitReady", "Read6", "Read10", "Read12", "Read16",
                 "ReadCapacity10", "ReadCapacity16", "ReadDefectData10",
                 "ReadDefectData12", "Verify10", "Verify12", "Verify16",
                 "Prefetch10", "Prefetch16", "GetLBAStatus",
                 "ReportSupportedOpcodes", "PrinReadKeys",
                 "PrinReportCapabilities", "PrinServiceactionRange",
                 "Reserve6", "iSCSIcmdsn"],
    "readonly-thin": ["ReadOnly"],
}
