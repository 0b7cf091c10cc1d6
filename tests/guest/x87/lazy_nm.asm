; Lazy FPU switching as a real-mode kernel does it (SDM Vol. 3A 2.5, CR0.TS
; and CR0.MP; Table 2-2): with TS set the first x87 instruction takes #NM,
; the handler clears TS (CLTS) and IRET restarts the instruction; WAIT takes
; #NM only when MP is also set. FNSAVE/FRSTOR carry a context across.
; backends: soft  (the reference /dev/kvm emulates guests here, without x87)
; mode: real
; expect: rbx=2 rcx=2 rdx=3
; expect-exit: hlt
bits 16
org 0x7c00
  xor ax, ax
  mov ds, ax
  xor bx, bx
  mov word [7 * 4], nm_handler
  mov word [7 * 4 + 2], 0
  fninit
  fld1
  fnsave [ctx1]                ; context 1 saved, FPU reinitialized
  mov eax, cr0
  or al, 8                     ; TS
  mov cr0, eax
  fldpi                        ; #NM once, then restarted
  fistp word [res_pi]          ; 3, no fault: TS is clear now
  mov eax, cr0
  or al, 8 | 2                 ; TS and MP
  mov cr0, eax
  fwait                        ; #NM (MP and TS), restarted
  frstor [ctx1]
  fadd st0, st0
  fistp word [res]             ; 2
  mov cx, [res]
  mov dx, [res_pi]
  hlt
nm_handler:
  inc bx
  clts
  iret
align 2
res: dw 0
res_pi: dw 0
ctx1: times 94 db 0
