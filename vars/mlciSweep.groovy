import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * A parameter grid fanned out with `parallel`: shard I of N runs `mlci sweep --grid G --shard I/N` on an
 * agent with the label, its runs come back by stash, then `mlci sweep select` picks the best candidate.
 * Call it inside a node (a stage with an agent); the selection runs there.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciSweep', [config: 'mlci.yaml', grid: 'grid.yaml', shards: 2, label: '', checkout: true,
        setup: [:], storeCredentialsId: null, endpoint: null], args)
    int shards = cfg.shards as int
    Map branches = [:]
    for (int i = 1; i <= shards; i++) {
        int shard = i
        branches["shard ${shard}/${shards}".toString()] = {
            node(cfg.label) {
                if (cfg.checkout) {
                    checkout(scm)
                }
                if (cfg.setup != null) {
                    mlciSetup(cfg.setup + [doctor: false])
                }
                Map part = Credentials.withStore(this, cfg) {
                    Cli.run(this, "mlciSweep-${shard}", Shell.args(['sweep'], ['--config': cfg.config,
                        '--grid': cfg.grid, '--shard': "${shard}/${shards}"]))
                }
                stash(name: "mlci-sweep-${shard}", includes: '.mlci/runs/**', allowEmpty: true)
                Cli.finish(this, part)
            }
        }
    }
    parallel(branches)
    for (int i = 1; i <= shards; i++) {
        unstash("mlci-sweep-${i}")
    }
    Map result = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciSweep', Shell.args(['sweep', 'select'], ['--config': cfg.config, '--grid': cfg.grid]))
    }
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciSweep*/**', allowEmptyArchive: true)
    return Cli.finish(this, result)
}
