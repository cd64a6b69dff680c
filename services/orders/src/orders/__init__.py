"""Orders: customers' orders and the saga that fulfils each one."""
