"""CrossGuard policy packs. The rules live in `policies.gpu_caas_policies`; each pack
directory (`tenant-isolation/`, `platform-safety/`) only assembles a `PolicyPack`."""
