/// MakeCredential, AttestationError and the EK helpers moved to PeerAttestation (the agent links them
/// without Yams or Foundation); Attestation's users keep seeing them here.
@_exported import PeerAttestation
