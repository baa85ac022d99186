"""Performance measurement shared by the gate, Olive's metric and the benchmark."""
