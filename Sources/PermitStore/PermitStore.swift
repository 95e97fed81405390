// PermitStore
