// PermitSeal
