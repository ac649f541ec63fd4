import org.junit.After
import org.junit.Test

/** mlciSetup and its bootstrap script (resources/org/mlci/bootstrap.sh), run for real. */
class SetupTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    File fakeMlci(String name, String version) {
        File bin = new File(f.dir, name)
        bin.parentFile.mkdirs()
        bin.text = "#!/bin/sh\n[ \"\$1\" = --version ] && echo 'mlci ${version}' && exit 0\nexec '${StepFixture.FAKE_BIN}/mlci' \"\$@\"\n"
        bin.setExecutable(true)
        return bin
    }

    @Test
    void theMlciOnThePathIsUsedAndDoctorRuns() {
        f.answer('doctor', [stdout: [checks: [[name: 'docker', passed: true]]]])
        Map out = f.h.runStep('mlciSetup', [doctorChecks: ['docker', 'gpu']])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out.mlci == "${StepFixture.FAKE_BIN}/mlci".toString() && out.version == '0.1.0'
        assert out.doctor == [checks: [[name: 'docker', passed: true]]]
        assert f.onlyArgv() == ['doctor', '--docker', '--gpu', '--json']
        // recorded in this workspace, never in the build-wide env (a path on one agent is not on another)
        assert !f.h.effectiveEnv().containsKey('MLCI')
        assert new File(f.h.workspace, '.mlci/jenkins/mlciSetup/mlci-path').text.trim() == out.mlci
        assert f.h.shCalls[0].script == 'sh .mlci/jenkins/mlciSetup/bootstrap.sh'
        assert new File(f.h.workspace, '.mlci/jenkins/mlciSetup/bootstrap.sh').text ==
            new File(StepFixture.ROOT, 'resources/org/mlci/bootstrap.sh').text
    }

    @Test
    void theArgumentsTravelAsEnvironmentNeverAsShellText() {
        String odd = "x'; touch PWNED; \$(id)"
        f.h.runStep('mlciSetup', [mlci: odd, version: odd, requirement: odd, requirementsFile: odd, indexUrl: odd, findLinks: odd, venv: odd,
                                  noIndex: true, systemSitePackages: true])
        Map sh = f.h.shCalls[0]
        assert sh.script == 'sh .mlci/jenkins/mlciSetup/bootstrap.sh'
        ['MLCI_BIN', 'MLCI_VERSION', 'MLCI_REQUIREMENT', 'MLCI_REQUIREMENTS_FILE', 'MLCI_INDEX_URL', 'MLCI_FIND_LINKS', 'MLCI_VENV'].each {
            assert sh.env[it] == odd
        }
        assert sh.env.MLCI_NO_INDEX == '1' && sh.env.MLCI_SYSTEM_SITE_PACKAGES == '1'
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == "mlciSetup: bad input: mlci setup: error: MLCI_BIN=${odd} is not an mlci executable of version ${odd}"
        assert !new File(f.h.workspace, 'PWNED').exists()
    }

    @Test
    void aGivenExecutableOfTheWantedVersionIsUsed() {
        File mine = fakeMlci('opt/mlci/bin/mlci', '1.2.3')
        Map out = f.h.runStep('mlciSetup', [mlci: mine.path, version: '1.2.3', doctor: false])
        assert out == [mlci: mine.path, version: '1.2.3']
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void aPinnedVersionSkipsAnotherVersionOnThePathAndUsesTheVenvThatHasIt() {
        File venvMlci = fakeMlci('workspace/.mlci/venv/bin/mlci', '2.0.0')
        new File(f.h.workspace, '.mlci/venv/bin/python').with { it.text = '#!/bin/sh\n'; it.setExecutable(true) }
        Map out = f.h.runStep('mlciSetup', [version: '2.0.0', doctor: false])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out == [mlci: venvMlci.canonicalPath, version: '2.0.0']
    }

    /** No mlci on this agent: PATH without the fake CLI, and no venv. */
    private void agentWithoutMlci() {
        f.h.globalEnv.PATH = '/usr/local/bin:/usr/bin:/bin'
    }

    @Test
    void withNothingSetItRefusesToInstallMlciByNameFromWhateverIndexTheAgentHas() {
        agentWithoutMlci()
        f.h.runStep('mlciSetup', [doctor: false])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciSetup: bad input: mlci setup: error: no mlci on this agent, and installing ' +
            '`mlci` by name from a package index is refused'): f.h.errorMessage
        ['docker/agent', 'findLinks', 'noIndex', 'requirementsFile', '--hash'].each { assert f.h.errorMessage.contains(it) }
        assert !new File(f.h.workspace, '.mlci/venv').exists(): 'nothing may be installed'
    }

    @Test
    void aPinnedVersionOrAnIndexWithoutHashesIsRefusedToo() {
        agentWithoutMlci()
        f.h.runStep('mlciSetup', [version: '0.1.0', indexUrl: 'https://pypi.example.invalid/simple', doctor: false])
        assert f.h.result == 'FAILURE' && f.h.errorMessage.contains('is refused'): f.h.log
        assert !new File(f.h.workspace, '.mlci/venv').exists()
    }

    @Test
    void aWheelhouseThatAlsoConsultsAnIndexIsRefused() {
        agentWithoutMlci()
        f.h.runStep('mlciSetup', [findLinks: f.dir.path, doctor: false])
        assert f.h.result == 'FAILURE' && f.h.errorMessage.contains('noIndex: true'): f.h.log
        assert !new File(f.h.workspace, '.mlci/venv').exists()
    }

    @Test
    void aRequirementsFileWithoutHashesIsRefused() {
        agentWithoutMlci()
        new File(f.h.workspace, 'ci').mkdirs()
        new File(f.h.workspace, 'ci/mlci.txt').text = 'mlci==0.1.0\n'
        f.h.runStep('mlciSetup', [requirementsFile: 'ci/mlci.txt', doctor: false])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.contains('ci/mlci.txt has no --hash=sha256: pins'): f.h.errorMessage
    }

    /** A pinned, hashed requirements file from the team's index: pip runs in hash-checking mode (recorded by a stand-in python). */
    @Test
    void aRequirementsFileWithHashesInstallsInHashCheckingMode() {
        agentWithoutMlci()
        new File(f.h.workspace, 'ci').mkdirs()
        new File(f.h.workspace, 'ci/mlci.txt').text = 'mlci==0.1.0 --hash=sha256:' + ('a' * 64) + '\n'
        File bin = new File(f.h.workspace, '.mlci/venv/bin')
        bin.mkdirs()
        new File(bin, 'python').with {
            it.text = '#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/pip-argv"\n' +
                "printf '#!/bin/sh\\necho mlci 0.1.0\\n' > \"\$(dirname \"\$0\")/mlci\"; chmod +x \"\$(dirname \"\$0\")/mlci\"\n"
            it.setExecutable(true)
        }
        Map out = f.h.runStep('mlciSetup', [requirementsFile: 'ci/mlci.txt', indexUrl: 'https://pypi.team.example/simple', doctor: false])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out.version == '0.1.0'
        assert new File(bin, 'pip-argv').readLines() == ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
            '--index-url', 'https://pypi.team.example/simple', '--require-hashes', '-r', 'ci/mlci.txt']
    }

    /**
     * A real install: pip installing this checkout's wheel from a wheelhouse with no index into the venv.
     * Nothing of the machine's python3 is used: the wheel is built by the test venv's pip, and the venv is
     * one an agent image would carry (its dependencies preinstalled, here those of the test venv).
     */
    @Test
    void installsIntoAVenvFromAWheelhouseWithNoIndex() {
        String python = StepFixture.projectPython()
        File wheels = new File(f.dir, 'wheels')
        // build isolation: setuptools>=77 (pyproject's build requirement) comes from the configured index or pip's cache
        Process build = [python, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '-w', wheels.path,
                         new File(StepFixture.ROOT, 'python').path].execute()
        StringBuffer buildErr = new StringBuffer()
        build.waitForProcessOutput(System.out, buildErr)
        org.junit.Assume.assumeTrue("needs a package index or pip cache with setuptools>=77 to build the wheel: ${buildErr}".toString(),
            build.exitValue() == 0)
        File venv = new File(f.h.workspace, '.mlci/venv')
        Process make = [python, '-m', 'venv', venv.path].execute()
        make.waitForProcessOutput(System.out, System.err)
        assert make.exitValue() == 0
        preinstallDependencies(python, venv)
        f.h.globalEnv.PATH = System.getenv('PATH')
        Map out = f.h.runStep('mlciSetup', [requirement: 'mlci', findLinks: wheels.path, noIndex: true, doctor: false])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out.mlci == new File(f.h.workspace, '.mlci/venv/bin/mlci').canonicalPath
        assert out.version == (new File(StepFixture.ROOT, 'python/mlci/__init__.py').text =~ /__version__ = "([^"]+)"/)[0][1]
        assert f.h.log.contains("mlci setup: installing mlci into .mlci/venv")
        Process version = [out.mlci, '--version'].execute()
        assert version.text.trim() == "mlci ${out.version}".toString()
    }

    /** The test venv's packages, but not its (editable) mlci, visible in VENV through a .pth file. */
    private void preinstallDependencies(String python, File venv) {
        String site = [python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'].execute().text.trim()
        String target = ["${venv}/bin/python", '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'].execute().text.trim()
        File deps = new File(f.dir, 'agent-packages')
        deps.mkdirs()
        new File(site).eachFile { File entry ->
            if (!(entry.name ==~ /(?i)(_{0,2}editable_{0,2}.*mlci.*|mlci.*|.*\.pth)/)) {
                java.nio.file.Files.createSymbolicLink(new File(deps, entry.name).toPath(), entry.toPath())
            }
        }
        new File(target, 'agent-packages.pth').text = deps.path + '\n'
    }
}
