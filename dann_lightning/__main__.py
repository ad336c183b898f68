from dann_lightning.cli import cli_main

if __name__ == "__main__":
    cli_main()
