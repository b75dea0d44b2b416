#!/bin/bash
#SBATCH -J short-opts
#SBATCH -N 1
#SBATCH -n 4
#SBATCH -c 2
#SBATCH -t 90
#SBATCH -o out-%j.txt
#SBATCH -e err-%j.txt
srun ./compute
