import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * Manual promotion: an input restricted to the approvers (outside any node, so no executor waits),
 * then under a per-model lock `mlci promote NAME VERSION --to ALIAS --approver WHO --reason WHY`.
 * Abort, refusal or timeout: the build is ABORTED and nothing is promoted.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciPromote', [model: null, version: null, alias: 'production', approvers: null,
        approvalTime: 24, approvalUnit: 'HOURS', config: 'mlci.yaml', label: '', checkout: true, setup: [:],
        storeCredentialsId: null, endpoint: null], args)
    Defaults.require(this, 'mlciPromote', cfg, ['model', 'version', 'alias', 'approvers'])
    String what = "${cfg.model} version ${cfg.version} to ${cfg.alias}"
    milestone(label: "mlci-promote-${cfg.model}: waiting for approval")
    Map answer
    try {
        timeout(time: cfg.approvalTime, unit: cfg.approvalUnit) {
            answer = input(id: 'Promote', message: "Promote ${what}?", ok: 'Promote',
                submitter: Defaults.submitters(cfg.approvers), submitterParameter: 'APPROVER',
                parameters: [string(name: 'REASON', defaultValue: '', description: 'Why (recorded in the audit log)')])
        }
    } catch (err) {
        echo("mlciPromote: ${what} was not approved (aborted, refused or timed out); nothing promoted")
        throw err
    }
    Map result = [:]
    lock(resource: "mlci-promote-${cfg.model}") {
        milestone(label: "mlci-promote-${cfg.model}: promoting")
        node(cfg.label) {
            // SCM variables are only in checkout's return value here (outside Declarative's agents)
            Map scmVars = cfg.checkout ? checkout(scm) : [:]
            if (cfg.setup != null) {
                mlciSetup(cfg.setup + [doctor: false])
            }
            withEnv(Shell.env([MLCI_CONFIG: cfg.config, MLCI_MODEL: cfg.model, MLCI_VERSION: cfg.version,
                    MLCI_ALIAS: cfg.alias, MLCI_APPROVER: answer.APPROVER, MLCI_REASON: answer.REASON ?: '',
                    GIT_COMMIT: scmVars?.GIT_COMMIT ?: env.GIT_COMMIT])) {
                result = Credentials.withStore(this, cfg) {
                    Cli.runText(this, 'mlciPromote', 'promote --config="$MLCI_CONFIG" --to="$MLCI_ALIAS" ' +
                        '--approver="$MLCI_APPROVER" --reason="$MLCI_REASON" --json -- "$MLCI_MODEL" "$MLCI_VERSION"')
                }
            }
            archiveArtifacts(artifacts: '.mlci/jenkins/mlciPromote/**', allowEmptyArchive: true)
        }
    }
    return [approver: answer.APPROVER, reason: answer.REASON] + Cli.finish(this, result)
}
