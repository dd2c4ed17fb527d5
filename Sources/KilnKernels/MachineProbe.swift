#if canImport(Glibc)
    import Glibc
#endif

/// Quick measurements of the machine's ceilings for `kiln bench`: streaming read bandwidth and float32 FMA peak,
/// each with the pool's threads. They take ~0.5 s together and are rough (±10 % on a shared VM) but put a run's
/// tokens/s next to what the hardware could do.
public enum MachineProbe {
    /// Bytes/s read by all threads streaming disjoint halves of a buffer 8× larger than a typical L3 (best of 3).
    public static func readBandwidth(pool: ThreadPool, bytes: Int = 256 << 20) -> Double {
        let count = bytes / 4
        // Allocated as packed weights are (huge pages where free ones exist), so that the roofline is measured on
        // the pages the weights stream from.
        guard let raw = HugePages.allocate(bytes: count * 4) else { return 0 }
        defer { free(raw) }
        let buffer = raw.bindMemory(to: Float.self, capacity: count)
        pool.parallelFor(count, granularity: 4096) { range, _ in
            (buffer + range.lowerBound).update(repeating: 1, count: range.count)
        }
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount)
        defer { sums.deallocate() }
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<3 {
            let elapsed = clock.measure {
                pool.parallelFor(count, granularity: 4096) { range, thread in
                    sums[thread] = sum(buffer + range.lowerBound, range.count)
                }
            }
            best = min(best, seconds(elapsed))
        }
        return Double(count * 4) / best
    }

    /// Float32 FLOP/s of SIMD16 fused multiply-adds on all threads (the compute roof of float kernels).
    public static func peakFlops(pool: ThreadPool, iterations: Int = 4_000_000) -> Double {
        let clock = ContinuousClock()
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: pool.threadCount)
        defer { sink.deallocate() }
        var best = Double.infinity
        for _ in 0..<2 {
            let elapsed = clock.measure {
                pool.run { thread in sink[thread] = fmaLoop(iterations) }
            }
            best = min(best, seconds(elapsed))
        }
        return Double(pool.threadCount) * Double(iterations) * 8 * 16 * 2 / best
    }

    @inline(never)
    static func fmaLoop(_ n: Int) -> Float {
        let m = SIMD16<Float>(repeating: 0.999_999)
        let c = SIMD16<Float>(repeating: 1e-7)
        var a0 = SIMD16<Float>(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        for _ in 0..<n {
            a0 = c.addingProduct(a0, m)
            a1 = c.addingProduct(a1, m)
            a2 = c.addingProduct(a2, m)
            a3 = c.addingProduct(a3, m)
            a4 = c.addingProduct(a4, m)
            a5 = c.addingProduct(a5, m)
            a6 = c.addingProduct(a6, m)
            a7 = c.addingProduct(a7, m)
        }
        return horizontalSum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)))
    }

    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = a0, a2 = a0, a3 = a0
        var i = 0
        while i &+ 64 <= n {
            a0 += loadFloats16(p + i)
            a1 += loadFloats16(p + (i &+ 16))
            a2 += loadFloats16(p + (i &+ 32))
            a3 += loadFloats16(p + (i &+ 48))
            i &+= 64
        }
        var s = horizontalSum((a0 + a1) + (a2 + a3))
        while i < n {
            s += p[i]
            i &+= 1
        }
        return s
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
