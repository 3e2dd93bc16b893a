"""numpy.fft: rules for the discrete Fourier transforms (filled in by the FFT work)."""
