/**
 * Where a piece of a build runs, per thread (parallel branches get a copy of their parent's): the
 * environment overlays (withEnv, withCredentials, a node's WORKSPACE), the node and its workspace,
 * dir() nesting, the stage path and the locks held.
 */
class BuildContext {
    final List<Map> overlays = []
    final List<String> cwd = []
    final List<String> stagePath = []
    final List<String> nodeLabels = []
    final List<String> locks = []
    /** The workspaces of the enclosing nodes, innermost last, with the agent each is on. */
    final List<Map> nodes = []

    BuildContext copy() {
        BuildContext c = new BuildContext()
        c.overlays.addAll(overlays)
        c.cwd.addAll(cwd)
        c.stagePath.addAll(stagePath)
        c.nodeLabels.addAll(nodeLabels)
        c.locks.addAll(locks)
        c.nodes.addAll(nodes)
        return c
    }
}
