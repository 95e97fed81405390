// PermitWorkflow
