/**
 * Keys of the members that modules of this package call on each other's public classes but programs
 * must not: a member keyed by one of these symbols is reachable only with the symbol, and no entry
 * point exports them (tests import them from here). Documentation omits these members (`@ignore`).
 * A keyed call costs V8 about 0.5 ns more than a named one, so the per-lease path uses as few as it
 * can (Lease.release passes its private state to its pool as arguments).
 */

/** `Connection[kStart]()`: starts receiving and runs `open` (Server, connect()). `WorkerGroup[kStart](data)` too. */
export const kStart: unique symbol = Symbol("uring-buffers.start");

/** `Lease[kScarce]`: the lease's pool is short of buffers (whoever would keep it long copies it). */
export const kScarce: unique symbol = Symbol("uring-buffers.scarce");
/**
 * `Lease[kCopyToQueue](pool, holder)`: a write to a connection of `pool` counted as `holder` should
 * queue a copy (see Lease). `LeaseOwner[kHolderHeavy](holder)`: that holder holds half its share.
 */
export const kCopyToQueue: unique symbol = Symbol("uring-buffers.copyToQueue");
export const kHolderHeavy: unique symbol = Symbol("uring-buffers.holderHeavy");
/**
 * `Lease[kTakeOver](verb)`: a write or send takes the lease over (it releases it once sent).
 * Throws TypeError for a lease released or taken over already.
 */
export const kTakeOver: unique symbol = Symbol("uring-buffers.takeOver");
/**
 * `Lease[kGiveBack]()`: the write or send that took the lease over releases it (once sent, dropped or
 * refused); also releases a lease nobody took over. Does nothing for a lease released already.
 */
export const kGiveBack: unique symbol = Symbol("uring-buffers.giveBack");
/** `Lease[kAddress]`: its native address for the library, also once a write or send took it over. */
export const kAddress: unique symbol = Symbol("uring-buffers.address");
/** `Lease[kReleased]`: its buffer went back to its owner (`released` is true from a write's take-over on). */
export const kReleased: unique symbol = Symbol("uring-buffers.released");
/** `Lease[kBytes]`: its bytes for the library, also once a write or send took it over (`bytes` then throws). */
export const kBytes: unique symbol = Symbol("uring-buffers.bytes");
/** `Lease[kMarkReleased]()`: the owner has taken the buffer back; `bytes` throws from now on. */
export const kMarkReleased: unique symbol = Symbol("uring-buffers.markReleased");

/**
 * `BufferPool[kDatagrams]` / `Lease[kDatagrams]`: a DatagramReceiver receives into the pool, so its
 * leases start with the kernel's recvmsg header (a lease sent on its own sends only the payload).
 */
export const kDatagrams: unique symbol = Symbol("uring-buffers.datagrams");
/** `BufferPool[kReleaseLease](lease, generation, holder)`: where `Lease.release()` lands. */
export const kReleaseLease: unique symbol = Symbol("uring-buffers.releaseLease");
/** `BufferPool[kBufferAddress](bufferId)`: native address of a buffer (`Lease.address`). */
export const kBufferAddress: unique symbol = Symbol("uring-buffers.bufferAddress");
/** `BufferPool[kBufferView](bufferId, offset, length)`: a view of a leased piece (`Lease.bytes`, made on first read). */
export const kBufferView: unique symbol = Symbol("uring-buffers.bufferView");

/** `IoLoop[kArena]`: the loop's native chunks for bytes copied from JS to send. */
export const kArena: unique symbol = Symbol("uring-buffers.arena");
/** `IoLoop[kIovBlocks]`: the loop's native msghdr + iovec blocks for SENDMSG. */
export const kIovBlocks: unique symbol = Symbol("uring-buffers.iovBlocks");
/** `IoLoop[kBacklog]`: the loop's connections whose peers are behind (see SendBacklog). */
export const kBacklog: unique symbol = Symbol("uring-buffers.backlog");
/** `IoLoop[kIdle]`: the loop's idle-timeout wheel. */
export const kIdle: unique symbol = Symbol("uring-buffers.idle");

/** `Ring[kWhenExited]()`: settles once the ring is torn down (a close() may wait for an off-thread waiter). */
export const kWhenExited: unique symbol = Symbol("uring-buffers.whenExited");
/** `IoLoop[kWhenClosed]()`: settles once close() has closed the loop's ring and it is torn down. */
export const kWhenClosed: unique symbol = Symbol("uring-buffers.whenClosed");

/**
 * `Connection[kEndSettled]()`: end() once the connection's async `data` and `end` calls running now
 * have settled (a graceful stop: a reply written after an await still goes out).
 */
/**
 * `Connection[kCork]()` / `[kUncork]()`: writes in between queue without starting a send, so the parts
 * of one frame go out in one send and are copied once, into the send arena (serve()'s chunk framing).
 */
export const kCork: unique symbol = Symbol("uring-buffers.cork");
/** See kCork. */
export const kUncork: unique symbol = Symbol("uring-buffers.uncork");
/** `Connection[kAbort](reason)`: connect()'s signal aborted; the connection fails with the reason, unlogged. */
export const kAbort: unique symbol = Symbol("uring-buffers.abort");
export const kEndSettled: unique symbol = Symbol("uring-buffers.endSettled");

/**
 * `listen({ [kEndGracefully]: (conn) => ... })`: how a graceful stop ends a connection, instead of
 * `conn.end()` (serve() lets a request in flight finish its response first).
 */
export const kEndGracefully: unique symbol = Symbol("uring-buffers.endGracefully");
/**
 * `listen({ [kCloseNow]: (conn) => ... })`: how a hard stop closes a connection, instead of
 * `conn.close()` (serve() resets one whose response it was still writing: the client must not take
 * the part it got for the whole).
 */
export const kCloseNow: unique symbol = Symbol("uring-buffers.closeNow");

/** `ServeInfo[kFinish]()`: its exchange is over (the response was sent, or the connection closed). */
export const kFinish: unique symbol = Symbol("uring-buffers.finish");

/** `Ring[kGroupIds]`: the buffer group ids in use on the ring (BufferRing, ProvidedBufferGroup, default ids). */
export const kGroupIds: unique symbol = Symbol("uring-buffers.groupIds");

/** `Server[kListenFd]` / `HttpServer[kListenFd]`: the listening socket's fd (a crashed worker's is closed for it). */
export const kListenFd: unique symbol = Symbol("uring-buffers.listenFd");

/** `Driver[kTurn]`: turns run so far (SendBacklog tells what a turn wrote from what waited since an earlier one). */
export const kTurn: unique symbol = Symbol("uring-buffers.turn");
/**
 * `Driver[kSettled]()`: settles once nothing holds the driver and its park (an FFI wait) has returned;
 * at once while something holds it. A stop awaits it, so that nothing of the loop's is left running
 * (Deno's test sanitizer reports an outstanding FFI call as a leaked op).
 */
export const kSettled: unique symbol = Symbol("uring-buffers.settled");
/**
 * `Driver[kOnIdle](fn)`: calls `fn` each time the last reference is dropped (in a microtask, if none
 * was taken again): the loop gives a burst's memory back then instead of by a timer that would
 * outlive the program's last socket.
 */
export const kOnIdle: unique symbol = Symbol("uring-buffers.onIdle");
/** `BufferPool[kTrimIdle]()`: gives the pages of its idle spare buffers back now (see kOnIdle). */
export const kTrimIdle: unique symbol = Symbol("uring-buffers.trimIdle");
/** `Ring[kTearDown]()`: close() and tear the ring down at once, off-thread waits or not (at unload). */
export const kTearDown: unique symbol = Symbol("uring-buffers.tearDown");
/** `Driver[kWhenUnreferenced](fn)`: calls `fn` once no references are held (IoLoop.close() with sockets open). */
export const kWhenUnreferenced: unique symbol = Symbol("uring-buffers.whenUnreferenced");
