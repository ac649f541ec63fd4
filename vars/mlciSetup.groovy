import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * Finds or installs the mlci CLI on this agent (resources/org/mlci/bootstrap.sh; it never installs `mlci` by name from
 * an index unpinned: a wheelhouse, a wheel or a hashed requirements file, else it fails) and records its path in
 * this workspace (.mlci/jenkins/mlciSetup/mlci-path, where every step on this node finds it), then runs
 * `mlci doctor` once it exists.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciSetup', [mlci: null, version: null, requirement: null, requirementsFile: null, indexUrl: null, findLinks: null,
        noIndex: false, venv: '.mlci/venv', systemSitePackages: false, doctor: true, doctorChecks: [],
        storeCredentialsId: null, endpoint: null], args)
    String dir = '.mlci/jenkins/mlciSetup'
    writeFile(file: "${dir}/bootstrap.sh", text: libraryResource('org/mlci/bootstrap.sh'))
    int rc = withEnv(Shell.env([MLCI_BIN: cfg.mlci, MLCI_VERSION: cfg.version, MLCI_REQUIREMENT: cfg.requirement,
            MLCI_REQUIREMENTS_FILE: cfg.requirementsFile,
            MLCI_INDEX_URL: cfg.indexUrl, MLCI_FIND_LINKS: cfg.findLinks, MLCI_NO_INDEX: cfg.noIndex ? '1' : null,
            MLCI_VENV: cfg.venv, MLCI_SYSTEM_SITE_PACKAGES: cfg.systemSitePackages ? '1' : null, MLCI_SETUP_DIR: dir])) {
        sh(script: 'sh .mlci/jenkins/mlciSetup/bootstrap.sh', returnStatus: true, label: 'mlci setup')
    }
    String message = fileExists("${dir}/error") ? readFile("${dir}/error").trim() : ''
    Cli.finish(this, [id: 'mlciSetup', rc: rc, json: [:], message: message])
    // the path stays in this workspace (Cli reads it there): env is build-wide, the path is this agent's
    Map found = [mlci: readFile("${dir}/mlci-path").trim(), version: readFile("${dir}/mlci-version").trim()]
    if (!cfg.doctor) {
        return found
    }
    List flags = []
    for (Object check : cfg.doctorChecks) {
        flags.add("--${check}".toString())
    }
    Map result = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciSetup-doctor', ['doctor'] + flags)
    }
    return found + [doctor: Cli.finish(this, result)]
}
